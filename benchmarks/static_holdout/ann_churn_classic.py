import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.compose import ColumnTransformer
from sklearn.metrics import accuracy_score, confusion_matrix
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder, OneHotEncoder, StandardScaler

tf.random.set_seed(0)

dataset = pd.read_csv("Churn_Modelling.csv")
X = dataset.iloc[:, 3:-1].values
y = dataset.iloc[:, -1].values

X[:, 2] = LabelEncoder().fit_transform(X[:, 2])
ct = ColumnTransformer([("geo", OneHotEncoder(), [1])], remainder="passthrough")
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
X_train = np.array(ct.fit_transform(X_train))
X_test = np.array(ct.transform(X_test))

sc = StandardScaler()
X_train = sc.fit_transform(X_train)
X_test = sc.fit_transform(X_test)  # expect: MLC002

ann = tf.keras.models.Sequential()
ann.add(tf.keras.layers.Dense(units=6, activation="relu"))
ann.add(tf.keras.layers.Dense(units=6, activation="relu"))
ann.add(tf.keras.layers.Dense(units=1, activation="sigmoid"))
ann.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
ann.fit(X_train, y_train, batch_size=32, epochs=100)

y_pred = ann.predict(X_test) > 0.5
print(confusion_matrix(y_test, y_pred))
print(accuracy_score(y_test, y_pred))
