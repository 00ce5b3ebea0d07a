import pandas as pd
from lightgbm import LGBMRegressor
from sklearn.metrics import mean_absolute_error

flights = pd.read_csv("flights_2019.csv", low_memory=False)
flights = flights.dropna(subset=["ARR_DELAY"])

# the full file is 7M rows; a sample is enough to iterate on
sample = flights.sample(n=200_000)  # expect: MLC102
holdout = sample.sample(frac=0.2)  # expect: MLC102
train = sample.drop(holdout.index)

cols = ["DEP_DELAY", "DISTANCE", "CRS_DEP_TIME", "DAY_OF_WEEK", "MONTH"]
gbm = LGBMRegressor(n_estimators=500, learning_rate=0.05, random_state=0)
gbm.fit(train[cols], train["ARR_DELAY"])
print("MAE on hold-out:", mean_absolute_error(holdout["ARR_DELAY"], gbm.predict(holdout[cols])))
