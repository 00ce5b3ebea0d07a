import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import classification_report, roc_auc_score

raw = np.loadtxt("data/credit_default.csv", delimiter=",", skiprows=1)
X, y = raw[:, :-1], raw[:, -1]
print("positives:", y.mean())

# min-max scaling, column by column
X = (X - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0))  # expect: MLC001

n_train = int(0.75 * len(X))
Xtr, Xte = X[:n_train], X[n_train:]
ytr, yte = y[:n_train], y[n_train:]

clf = LogisticRegression(max_iter=1000, class_weight="balanced")
clf.fit(Xtr, ytr)
proba = clf.predict_proba(Xte)[:, 1]
print("AUC:", roc_auc_score(yte, proba))
print(classification_report(yte, clf.predict(Xte)))
