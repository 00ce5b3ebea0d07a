import pandas as pd
from sklearn.cluster import KMeans
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

customers = pd.read_csv("Mall_Customers.csv")
X = customers[["Annual Income (k$)", "Spending Score (1-100)"]]
X_std = StandardScaler().fit_transform(X)

km = KMeans(n_clusters=5)  # expect: MLC101
customers["segment"] = km.fit_predict(X_std)
print(customers.groupby("segment").mean(numeric_only=True))

customers["Gender_code"] = (customers["Gender"] == "Female").astype(int)

features = customers[["Age", "Annual Income (k$)", "Gender_code"]]
target = customers["Spending Score (1-100)"]
X_train, X_test, y_train, y_test = train_test_split(features, target)  # expect: MLC101

gbr = GradientBoostingRegressor(n_estimators=300, subsample=0.8)  # expect: MLC101
gbr.fit(X_train, y_train)
print("R2:", r2_score(y_test, gbr.predict(X_test)))
