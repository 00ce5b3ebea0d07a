import pandas as pd
from sklearn import preprocessing
from sklearn.metrics import accuracy_score, confusion_matrix
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

wine = pd.read_csv("winequality-red.csv", sep=";")
wine["good"] = (wine["quality"] >= 7).astype(int)

X = wine.drop(columns=["quality", "good"]).values
y = wine["good"].values

# unit-length rows for the kernel (each row on its own)
X_unit = preprocessing.normalize(X)
# and zero mean / unit variance per feature
X = preprocessing.scale(X)  # expect: MLC001

x_train, x_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)

svc = SVC(kernel="rbf", C=1.0, gamma="scale")
svc.fit(x_train, y_train)
pred = svc.predict(x_test)
print(confusion_matrix(y_test, pred))
print("acc", accuracy_score(y_test, pred))

xu_train, xu_test, _, _ = train_test_split(X_unit, y, test_size=0.2, random_state=0)
svc_unit = SVC(kernel="rbf").fit(xu_train, y_train)
print("acc (unit rows)", accuracy_score(y_test, svc_unit.predict(xu_test)))
