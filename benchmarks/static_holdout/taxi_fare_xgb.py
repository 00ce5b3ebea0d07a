import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import mean_absolute_error
from sklearn.model_selection import train_test_split

train_df = pd.read_csv("data/taxi_trips.csv", parse_dates=["pickup_datetime"])
train_df["hour"] = train_df["pickup_datetime"].dt.hour
train_df["weekday"] = train_df["pickup_datetime"].dt.weekday


def clip_outliers(frame, col, low=0.01, high=0.99):
    """Cap a column at its 1st and 99th percentile."""
    lo, hi = frame[col].quantile(low), frame[col].quantile(high)  # expect: MLC001
    frame[col] = frame[col].clip(lo, hi)
    return frame


for c in ["trip_distance", "passenger_count", "tolls_amount"]:
    train_df = clip_outliers(train_df, c)

features = ["trip_distance", "passenger_count", "tolls_amount", "hour", "weekday"]
X_train, X_valid, y_train, y_valid = train_test_split(
    train_df[features], train_df["fare_amount"], test_size=0.2, random_state=7
)

reg = xgb.XGBRegressor(n_estimators=400, max_depth=6, learning_rate=0.05)
reg.fit(X_train, y_train)
preds = reg.predict(X_valid)
print("MAE:", mean_absolute_error(y_valid, preds))
print("RMSE:", np.sqrt(np.mean((y_valid - preds) ** 2)))
