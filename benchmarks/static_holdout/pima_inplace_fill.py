import pandas as pd
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

dataset = pd.read_csv("diabetes.csv")
for col in ["Glucose", "BloodPressure", "SkinThickness", "Insulin", "BMI"]:
    dataset[col] = dataset[col].replace(0, float("nan"))
    dataset[col].fillna(dataset[col].median(), inplace=True)  # expect: MLC001

X = dataset.iloc[:, :-1]
y = dataset.iloc[:, -1]
X = (X - X.mean()) / X.std()  # expect: MLC001

X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
classifier = SVC(kernel="linear")
classifier.fit(X_train, y_train)
y_pred = classifier.predict(X_test)
print("Accuracy:", accuracy_score(y_test, y_pred))
