import numpy as np
import pandas as pd
from sklearn.feature_selection import SelectKBest, mutual_info_classif
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

pk = pd.read_csv("parkinsons.data")
y = pk.pop("status").values
X = pk.drop(columns="name").values

X_sel = SelectKBest(mutual_info_classif, k=8).fit_transform(X, y)

skf = StratifiedKFold(n_splits=5, shuffle=True, random_state=2024)
fold_auc = []
for fold, (tr, va) in enumerate(skf.split(X_sel, y)):  # expect: MLC004
    lr = LogisticRegression(max_iter=2000)
    lr.fit(X_sel[tr], y[tr])
    fold_auc.append(roc_auc_score(y[va], lr.predict_proba(X_sel[va])[:, 1]))
    print(f"fold {fold}: AUC {fold_auc[-1]:.3f}")
print("mean AUC", np.mean(fold_auc))
