import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import KBinsDiscretizer

hr = pd.read_csv("WA_Fn-UseC_-HR-Employee-Attrition.csv")
hr["Attrition"] = (hr["Attrition"] == "Yes").astype(int)
hr = hr.drop(columns=["EmployeeCount", "StandardHours", "Over18", "EmployeeNumber"])


def add_bins(frame, cols, n_bins=4):
    """Quartile bins make the logistic model less sensitive to skewed pay columns."""
    kbd = KBinsDiscretizer(n_bins=n_bins, encode="ordinal", strategy="quantile")
    binned = kbd.fit_transform(frame[cols])  # expect: MLC001
    for i, col in enumerate(cols):
        frame[col + "_bin"] = binned[:, i]
    return frame


hr = add_bins(hr, ["MonthlyIncome", "DailyRate", "TotalWorkingYears"])
scaled = ["DistanceFromHome", "YearsAtCompany", "Age"]
hr[scaled] = hr[scaled].apply(lambda c: (c - c.min()) / (c.max() - c.min()))  # expect: MLC001

X = pd.get_dummies(hr.drop(columns="Attrition"), drop_first=True)
y = hr["Attrition"]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=6
)

logit = LogisticRegression(max_iter=5000, C=0.3)
logit.fit(X_train, y_train)
print("AUC", roc_auc_score(y_test, logit.predict_proba(X_test)[:, 1]))
