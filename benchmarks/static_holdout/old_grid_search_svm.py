import pandas as pd
from sklearn import cross_validation, svm
from sklearn.grid_search import GridSearchCV
from sklearn.metrics import classification_report
from sklearn.preprocessing import StandardScaler

cancer = pd.read_csv("breast_cancer.csv")
X = cancer.drop(["id", "diagnosis"], axis=1)
y = cancer["diagnosis"].map({"M": 1, "B": 0})

scaler = StandardScaler()
X = scaler.fit_transform(X)  # expect: MLC001

split = cross_validation.train_test_split(X, y, test_size=0.3)  # expect: MLC101
X_train, X_test, y_train, y_test = split

param_grid = {"C": [0.1, 1, 10, 100], "gamma": [1, 0.1, 0.01, 0.001]}
grid = GridSearchCV(svm.SVC(), param_grid, cv=5)
grid.fit(X_train, y_train)  # expect: MLC004
print(grid.best_params_)
print(classification_report(y_test, grid.predict(X_test)))
