import pandas as pd
from sklearn.cross_validation import train_test_split
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import Imputer, StandardScaler
from sklearn.tree import DecisionTreeClassifier

titanic = pd.read_csv("train.csv")
titanic["Sex"] = titanic["Sex"].apply(lambda s: 1 if s == "female" else 0)
predictors = ["Pclass", "Sex", "Age", "SibSp", "Parch", "Fare"]

X = titanic[predictors].values
y = titanic["Survived"].values

imputer = Imputer(missing_values="NaN", strategy="mean", axis=0)
X = imputer.fit_transform(X)  # expect: MLC001
X = StandardScaler().fit_transform(X)  # expect: MLC001

X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.33, random_state=1)

tree = DecisionTreeClassifier(max_depth=4, random_state=1)
tree.fit(X_train, y_train)
print("Accuracy:", round(accuracy_score(y_test, tree.predict(X_test)), 3))
