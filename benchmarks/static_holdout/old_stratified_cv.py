import numpy as np
import pandas as pd
from sklearn import cross_validation
from sklearn.cross_validation import StratifiedKFold
from sklearn.feature_selection import SelectKBest, chi2
from sklearn.naive_bayes import MultinomialNB

sms = pd.read_csv("spam_features.csv")
y = sms["label"].values
X = sms.drop("label", axis=1).values

X = SelectKBest(chi2, k=200).fit_transform(X, y)

skf = StratifiedKFold(y, n_folds=10)
clf = MultinomialNB(alpha=0.5)
scores = cross_validation.cross_val_score(clf, X, y, cv=skf)  # expect: MLC004
print(f"accuracy: {scores.mean():0.3f} (+/- {scores.std() * 2:0.3f})")
print(np.round(scores, 3))
