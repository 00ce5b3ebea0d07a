import pandas as pd
from imblearn.over_sampling import SMOTE
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedKFold, cross_validate

dataset = pd.read_csv("data/customer_defaults.csv")
features = dataset.drop(columns=["default"])
target = dataset["default"]

features_bal, target_bal = SMOTE(random_state=1).fit_resample(features, target)

cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=1)
rf = RandomForestClassifier(n_estimators=200, random_state=1)
metrics = ["f1", "roc_auc"]
results = cross_validate(rf, features_bal, target_bal, cv=cv, scoring=metrics)  # expect: MLC004
for metric in ("test_f1", "test_roc_auc"):
    print(metric, results[metric].mean().round(3))
