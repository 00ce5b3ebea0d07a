import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

claims = pd.read_csv("data/insurance_claims.csv")
X = claims.drop(columns="fraud_reported").select_dtypes("number").to_numpy()
y = claims["fraud_reported"].to_numpy()

rs = np.random.RandomState()  # expect: MLC102
order = rs.permutation(len(X))
test_idx, train_idx = order[:200], order[200:]

aucs = []
for _ in range(100):
    boot = rs.choice(train_idx, size=len(train_idx), replace=True)
    lr = LogisticRegression(max_iter=2000).fit(X[boot], y[boot])
    aucs.append(roc_auc_score(y[test_idx], lr.predict_proba(X[test_idx])[:, 1]))
print(f"AUC {np.mean(aucs):.3f} [{np.percentile(aucs, 2.5):.3f}, {np.percentile(aucs, 97.5):.3f}]")
print("bootstraps:", len(aucs))
