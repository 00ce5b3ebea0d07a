import pandas as pd
import xgboost as xgb
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

df = pd.read_csv("santander_train.csv")
X = df.drop(columns=["ID_code", "target"])
y = df["target"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=2019)

model = xgb.XGBClassifier(
    n_estimators=5000,
    learning_rate=0.02,
    max_depth=4,
    subsample=0.8,
    colsample_bytree=0.5,
    eval_metric="auc",
    early_stopping_rounds=200,
    random_state=2019,
)
model.fit(X_train, y_train, eval_set=[(X_test, y_test)], verbose=500)  # expect: MLC003
print("best iteration:", model.best_iteration)
print("test AUC:", roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]))
