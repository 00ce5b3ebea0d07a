import numpy as np
import pandas as pd
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_squared_log_error
from sklearn.model_selection import train_test_split

bikes = pd.read_csv("bike_sharing_hour.csv")
features = ["temp", "atemp", "hum", "windspeed", "hr", "weekday", "season"]
X_train, X_test, y_train, y_test = train_test_split(
    bikes[features], bikes["cnt"], test_size=0.2, random_state=21
)

X_train = X_train.fillna(X_train.median())
X_test = X_test.fillna(X_test.median())  # expect: MLC002

X_train = (X_train - X_train.mean()) / X_train.std()
X_test = (X_test - X_test.mean()) / X_test.std()  # expect: MLC002

enet = ElasticNet(alpha=0.01, l1_ratio=0.3)
enet.fit(X_train, np.log1p(y_train))
pred = np.expm1(enet.predict(X_test)).clip(min=0)
print("RMSLE:", np.sqrt(mean_squared_log_error(y_test, pred)))
