import pandas as pd
from imblearn.over_sampling import SMOTE
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import average_precision_score, recall_score
from sklearn.model_selection import train_test_split

data = pd.read_csv("creditcard.csv")
print(data["Class"].value_counts())

X = data.drop(columns=["Class", "Time"])
y = data["Class"]

# balance the classes first
sm = SMOTE(random_state=12, sampling_strategy=0.5)
X_res, y_res = sm.fit_resample(X, y)  # expect: MLC001
print(pd.Series(y_res).value_counts())

X_train, X_test, y_train, y_test = train_test_split(X_res, y_res, test_size=0.25, random_state=12)
forest = RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=12)
forest.fit(X_train, y_train)
scores = forest.predict_proba(X_test)[:, 1]
print("recall", recall_score(y_test, forest.predict(X_test)))
print("AP", average_precision_score(y_test, scores))
