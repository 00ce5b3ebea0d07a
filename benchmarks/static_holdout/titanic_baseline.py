import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

df = pd.read_csv("data/titanic/train.csv")
print(df.shape)
print(df.isnull().sum())

# fill the gaps
df["Age"] = df["Age"].fillna(df["Age"].mean())  # expect: MLC001
df["Embarked"] = df["Embarked"].fillna(df["Embarked"].mode()[0])  # expect: MLC001
df["Fare"] = df["Fare"].fillna(0)

df["Sex"] = df["Sex"].map({"male": 0, "female": 1})
df = pd.get_dummies(df, columns=["Embarked", "Pclass"], drop_first=True)
df["FamilySize"] = df["SibSp"] + df["Parch"] + 1
df["IsAlone"] = np.where(df["FamilySize"] == 1, 1, 0)

drop = ["PassengerId", "Survived", "Name", "Ticket", "Cabin"]
features = [c for c in df.columns if c not in drop]
X = df[features]
y = df["Survived"]

X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)

rf = RandomForestClassifier(n_estimators=200, max_depth=6, random_state=42)
rf.fit(X_train, y_train)
print("accuracy:", accuracy_score(y_test, rf.predict(X_test)))
