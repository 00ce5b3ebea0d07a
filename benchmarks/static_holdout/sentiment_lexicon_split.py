import csv
import random

from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import PassiveAggressiveClassifier
from sklearn.metrics import accuracy_score

with open("tweets_labelled.csv", newline="", encoding="utf8") as fh:
    records = [(row["text"], int(row["sentiment"])) for row in csv.DictReader(fh)]

random.shuffle(records)  # expect: MLC103
split = int(0.9 * len(records))
train_records, test_records = records[:split], records[split:]

vec = HashingVectorizer(n_features=2**18, alternate_sign=False)
X_train = vec.transform([t for t, _ in train_records])
X_test = vec.transform([t for t, _ in test_records])
y_train = [s for _, s in train_records]
y_test = [s for _, s in test_records]

pa = PassiveAggressiveClassifier(max_iter=50, random_state=0)
pa.fit(X_train, y_train)
print("held-out accuracy:", accuracy_score(y_test, pa.predict(X_test)))
