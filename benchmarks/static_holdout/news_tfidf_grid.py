from sklearn.datasets import fetch_20newsgroups
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GridSearchCV
from sklearn.naive_bayes import ComplementNB

news = fetch_20newsgroups(subset="all", remove=("headers", "footers", "quotes"))
texts, labels = news.data, news.target

vectorizer = TfidfVectorizer(sublinear_tf=True, max_df=0.5, min_df=3)
features = vectorizer.fit_transform(texts)
print("vocabulary size:", len(vectorizer.vocabulary_))

search = GridSearchCV(ComplementNB(), {"alpha": [0.01, 0.03, 0.1, 0.3, 1.0]}, cv=5, n_jobs=2)
search.fit(features, labels)  # expect: MLC004
print("best alpha", search.best_params_, "CV accuracy", round(search.best_score_, 4))
