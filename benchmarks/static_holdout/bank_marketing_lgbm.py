import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import train_test_split

bank = pd.read_csv("data/bank-additional-full.csv", sep=";")
bank["y"] = (bank["y"] == "yes").astype(int)

# age groups with fixed edges; campaign contacts in quintiles
bank["age_group"] = pd.cut(bank["age"], bins=[17, 25, 35, 50, 65, 100], labels=False)
bank["campaign_q"] = pd.qcut(bank["campaign"], 5, labels=False, duplicates="drop")  # expect: MLC001
bank["euribor3m"] = bank["euribor3m"].clip(upper=bank["euribor3m"].quantile(0.99))  # expect: MLC001

cat_cols = ["job", "marital", "education", "contact", "month"]
for col in cat_cols:
    bank[col] = bank[col].astype("category")

features = ["age_group", "campaign_q", "euribor3m", "pdays", *cat_cols]
X_tr, X_te, y_tr, y_te = train_test_split(
    bank[features], bank["y"], test_size=0.25, stratify=bank["y"], random_state=2021
)

lgbm = LGBMClassifier(n_estimators=300, learning_rate=0.05, num_leaves=31)
lgbm.fit(X_tr, y_tr)
print("F1 :", f1_score(y_te, lgbm.predict(X_te)))
print("AUC:", roc_auc_score(y_te, lgbm.predict_proba(X_te)[:, 1]))
