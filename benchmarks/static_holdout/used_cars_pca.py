import pandas as pd
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

cars = pd.read_csv("vehicles.csv")
cars = cars[(cars.price > 500) & (cars.price < 100000)].dropna(subset=["year", "odometer"])
cars["age"] = 2021 - cars["year"]

X = cars[["age", "odometer", "cylinders_num", "engine_size", "mpg_city", "mpg_highway"]]
X = X.fillna(0)
y = cars["price"]

numeric_cols = ["age", "odometer", "engine_size"]
X.loc[:, numeric_cols] = MinMaxScaler().fit_transform(X[numeric_cols])  # expect: MLC001

pca = PCA(n_components=4)
components = pca.fit_transform(X)  # expect: MLC001
print(pca.explained_variance_ratio_)

X_train, X_test, y_train, y_test = train_test_split(components, y, random_state=99)
lr = LinearRegression().fit(X_train, y_train)
print("R^2 on test:", r2_score(y_test, lr.predict(X_test)))
