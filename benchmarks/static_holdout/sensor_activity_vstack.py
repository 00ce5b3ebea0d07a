import numpy as np
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import RobustScaler

X_train = np.load("har/X_train.npy")
y_train = np.load("har/y_train.npy")
X_test = np.load("har/X_test.npy")
y_test = np.load("har/y_test.npy")
print(X_train.shape, X_test.shape)

scaler = RobustScaler()
scaler.fit(np.vstack([X_train, X_test]))  # expect: MLC002
X_train = scaler.transform(X_train)
X_test = scaler.transform(X_test)

et = ExtraTreesClassifier(n_estimators=300, random_state=0, n_jobs=-1)
et.fit(X_train, y_train)
print("test accuracy:", accuracy_score(y_test, et.predict(X_test)))
