import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import mean_absolute_error

listings = pd.read_csv("airbnb_listings.csv")
listings = listings[["price", "accommodates", "bedrooms", "beds", "number_of_reviews"]].dropna()
listings["price"] = listings["price"].str.replace("[$,]", "", regex=True).astype(float)

n_test = len(listings) // 5
test_ids = np.random.choice(listings.index, n_test, replace=False)  # expect: MLC103
test = listings.loc[test_ids]
train = listings.drop(index=test_ids)

cols = ["accommodates", "bedrooms", "beds", "number_of_reviews"]
forest = RandomForestRegressor(n_estimators=300, min_samples_leaf=2, random_state=0)
forest.fit(train[cols], train["price"])
print("MAE:", mean_absolute_error(test["price"], forest.predict(test[cols])))
print(test[cols].mean())
