import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education_num",
    "occupation",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "income",
]


def load(path):
    frame = pd.read_csv(path, names=COLUMNS, na_values="?", skipinitialspace=True)
    frame["income"] = (frame["income"] == ">50K").astype(int)
    return frame


def impute_numeric(frame, cols):
    imp = SimpleImputer(strategy="median")
    frame[cols] = imp.fit_transform(frame[cols])  # expect: MLC001
    return frame


def encode_categoricals(frame, cols):
    return pd.get_dummies(frame, columns=cols, dummy_na=True)


data = load("data/adult.data")
numeric = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
data = impute_numeric(data, numeric)
data = encode_categoricals(data, ["workclass", "occupation"])

X = data.drop(columns="income")
y = data["income"]
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=3)

gbc = GradientBoostingClassifier(n_estimators=250, max_depth=3, random_state=3)
gbc.fit(X_train, y_train)
print("test AUC", roc_auc_score(y_test, gbc.predict_proba(X_test)[:, 1]))
