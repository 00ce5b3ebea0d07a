import random
from pathlib import Path

from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score

random.seed(13)

reviews = []
for label in ("pos", "neg"):
    for f in sorted(Path("aclImdb/train", label).glob("*.txt")):
        reviews.append((f.read_text(encoding="utf8"), 1 if label == "pos" else 0))
random.shuffle(reviews)

n_test = len(reviews) // 5
test_reviews, train_reviews = reviews[:n_test], reviews[n_test:]
train_texts = [t for t, _ in train_reviews]
test_texts = [t for t, _ in test_reviews]
train_labels = [y for _, y in train_reviews]
test_labels = [y for _, y in test_reviews]

cv = CountVectorizer(binary=True, max_features=20000)
cv.fit(train_texts + test_texts)  # expect: MLC002
X_train, X_test = cv.transform(train_texts), cv.transform(test_texts)

for c in [0.05]:
    lr = LogisticRegression(C=c, max_iter=1000)
    lr.fit(X_train, train_labels)
    print(f"C={c}: {accuracy_score(test_labels, lr.predict(X_test)):.4f}")
