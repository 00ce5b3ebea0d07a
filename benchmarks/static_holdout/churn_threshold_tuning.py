import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import f1_score, precision_score, recall_score
from sklearn.model_selection import train_test_split

churn = pd.read_csv("churn_modelling.csv")
X = pd.get_dummies(churn.drop(columns=["RowNumber", "CustomerId", "Surname", "Exited"]))
y = churn["Exited"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=77)

rf = RandomForestClassifier(n_estimators=300, class_weight="balanced", random_state=77)
rf.fit(X_train, y_train)
proba = rf.predict_proba(X_test)[:, 1]

thresholds = np.arange(0.05, 0.95, 0.01)
best_t = max(thresholds, key=lambda t: f1_score(y_test, proba > t))  # expect: MLC003
print(f"best threshold {best_t:.2f}")

# the same idea for a recall target: the smallest cut-off that keeps precision above 0.6
ok = [t for t in thresholds if precision_score(y_test, proba > t, zero_division=0) >= 0.6]
cutoff = sorted(ok, key=lambda t: recall_score(y_test, proba > t))[-1]  # expect: MLC003

y_pred = (proba > best_t).astype(int)
print("test F1 at chosen threshold:", f1_score(y_test, y_pred))
print("recall at precision>=0.6 cut-off:", recall_score(y_test, proba > cutoff))
