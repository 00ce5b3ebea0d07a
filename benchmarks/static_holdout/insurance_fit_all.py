import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split

ins = pd.read_csv("insurance.csv")
ins = pd.get_dummies(ins, columns=["sex", "smoker", "region"], drop_first=True)

X = ins.drop(columns="charges")
y = ins["charges"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=10)
print(X_train.shape, X_test.shape)

model = RandomForestRegressor(n_estimators=400, min_samples_leaf=3, random_state=10)
model.fit(X, y)  # expect: MLC002

y_pred = model.predict(X_test)
print("MAE:", mean_absolute_error(y_test, y_pred))
print("R2 :", r2_score(y_test, y_pred))
