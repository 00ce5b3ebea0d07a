import pandas as pd
from sklearn.linear_model import Lasso
from sklearn.metrics import mean_absolute_percentage_error
from sklearn.preprocessing import minmax_scale

energy = pd.read_csv("data/household_power.csv", parse_dates=["timestamp"])
energy = energy.sort_values("timestamp").set_index("timestamp")
energy["hour"] = energy.index.hour
energy["lag_24"] = energy["load_kw"].shift(24)
energy = energy.dropna()


def zscore(col):
    return (col - col.mean()) / col.std()  # expect: MLC001


weather = ["temperature", "humidity", "wind_speed"]
energy[weather] = energy[weather].apply(zscore)
energy["lag_24"] = minmax_scale(energy["lag_24"])  # expect: MLC001

split_date = "2020-01-01"
train = energy[energy.index < split_date]
test = energy[energy.index >= split_date]

features = [*weather, "hour", "lag_24"]
lasso = Lasso(alpha=0.01)
lasso.fit(train[features], train["load_kw"])
print("MAPE:", mean_absolute_percentage_error(test["load_kw"], lasso.predict(test[features])))
