import numpy as np
import pandas as pd
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import make_pipeline as make_imb_pipeline
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

data = pd.read_csv("data/customer_defaults.csv")
X = data.drop(columns="default").values
y = data["default"].values

pipe = make_pipeline(StandardScaler(), SelectKBest(f_classif, k=10), LogisticRegression())
print("pipeline CV:", cross_val_score(pipe, X, y, cv=5, scoring="roc_auc").mean())

imb = make_imb_pipeline(SMOTE(random_state=0), StandardScaler(), LogisticRegression())
print("SMOTE inside folds:", cross_val_score(imb, X, y, cv=5, scoring="roc_auc").mean())

skf = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
aucs = []
for tr, va in skf.split(X, y):
    scaler = StandardScaler().fit(X[tr])
    model = LogisticRegression().fit(scaler.transform(X[tr]), y[tr])
    aucs.append(model.score(scaler.transform(X[va]), y[va]))
print("manual folds:", np.mean(aucs))
