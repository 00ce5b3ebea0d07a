import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error

data = pd.read_csv("input/house_prices.csv")
data = data.drop(columns=["Id"])
data["SalePrice"] = np.log1p(data["SalePrice"])

numeric = data.select_dtypes(include="number").columns.drop("SalePrice")
print(len(numeric), "numeric columns")

# standardise every numeric column so ridge treats them alike
for col in numeric:
    data[col] = (data[col] - data[col].mean()) / data[col].std()  # expect: MLC001

data = data[[*numeric, "SalePrice"]].dropna()

# the last 20% of rows are the hold-out
cut = int(len(data) * 0.8)
train, test = data.iloc[:cut], data.iloc[cut:]

for alpha in [10.0]:
    model = Ridge(alpha=alpha)
    model.fit(train[numeric], train["SalePrice"])
    pred = model.predict(test[numeric])
    print(alpha, "RMSE", np.sqrt(mean_squared_error(test["SalePrice"], pred)))
