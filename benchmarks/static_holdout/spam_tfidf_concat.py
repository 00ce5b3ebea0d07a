import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import MultinomialNB

messages = pd.read_csv("spam.csv", encoding="latin-1")[["v1", "v2"]]
messages.columns = ["label", "text"]
messages["label"] = (messages["label"] == "spam").astype(int)

X_train, X_test, y_train, y_test = train_test_split(
    messages["text"], messages["label"], test_size=0.2, random_state=8
)

# build the vocabulary over every message we have
tfidf = TfidfVectorizer(stop_words="english", min_df=2, ngram_range=(1, 2))
tfidf.fit(pd.concat([X_train, X_test]))  # expect: MLC002
train_vec = tfidf.transform(X_train)
test_vec = tfidf.transform(X_test)

nb = MultinomialNB(alpha=0.1)
nb.fit(train_vec, y_train)
print("F1 on test:", f1_score(y_test, nb.predict(test_vec)))
