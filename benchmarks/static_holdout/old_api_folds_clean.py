import numpy as np
import pandas as pd
from sklearn.cross_validation import KFold, train_test_split
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

loans = pd.read_csv("loan_data.csv")
X = loans.drop("not_fully_paid", axis=1).select_dtypes("number").values
y = loans["not_fully_paid"].values

X_dev, X_hold, y_dev, y_hold = train_test_split(X, y, test_size=0.2, random_state=11)

aucs = []
for tr, va in KFold(len(X_dev), n_folds=5):
    sc = StandardScaler().fit(X_dev[tr])
    lr = LogisticRegression(C=0.5).fit(sc.transform(X_dev[tr]), y_dev[tr])
    aucs.append(roc_auc_score(y_dev[va], lr.predict_proba(sc.transform(X_dev[va]))[:, 1]))
print(f"CV AUC {np.mean(aucs):.3f} +/- {np.std(aucs):.3f}")

sc = StandardScaler().fit(X_dev)
lr = LogisticRegression(C=0.5).fit(sc.transform(X_dev), y_dev)
hold_proba = lr.predict_proba(sc.transform(X_hold))[:, 1]
print(f"hold-out AUC {roc_auc_score(y_hold, hold_proba):.3f}")
