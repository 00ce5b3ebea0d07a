import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import RocCurveDisplay, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split

df = pd.read_csv("employee_attrition.csv")
X = pd.get_dummies(df.drop(columns="left"), drop_first=True)
y = df["left"]

X_temp, X_test, y_temp, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=5)
X_train, X_val, y_train, y_val = train_test_split(
    X_temp, y_temp, test_size=0.25, stratify=y_temp, random_state=5
)
print("test rows:", X_test.shape[0], "features:", list(X_test.columns[:5]))

clf = xgb.XGBClassifier(n_estimators=2000, learning_rate=0.05, early_stopping_rounds=50)
clf.fit(X_train, y_train, eval_set=[(X_val, y_val)], verbose=False)

# threshold picked on the validation rows
val_proba = clf.predict_proba(X_val)[:, 1]
grid = np.linspace(0.1, 0.9, 81)
val_f1 = [f1_score(y_val, val_proba > t) for t in grid]
threshold = grid[int(np.argmax(val_f1))]

# reported once on the untouched test rows
test_proba = clf.predict_proba(X_test)[:, 1]
print("test AUC:", roc_auc_score(y_test, test_proba))
print("test F1 @", round(threshold, 2), f1_score(y_test, test_proba > threshold))

classes = np.argmax(clf.predict_proba(X_test[:5]), axis=1)
print("predicted classes of the first rows:", classes)
RocCurveDisplay.from_predictions(y_test, test_proba)
plt.savefig("roc_test.png")
