import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_squared_error

data = pd.read_csv("student_performance.csv")
data = data.sample(frac=1).reset_index(drop=True)  # expect: MLC102

n_val = int(len(data) * 0.2)
val = data.head(n_val)
train = data.iloc[n_val:]

X_cols = ["studytime", "failures", "absences", "G1", "G2"]
lin = LinearRegression().fit(train[X_cols], train["G3"])
print("hold-out RMSE", np.sqrt(mean_squared_error(val["G3"], lin.predict(val[X_cols]))))

rng = np.random.default_rng()  # expect: MLC102
boot_idx = rng.integers(0, len(train), size=len(train))
boot = train.iloc[boot_idx]
lin_boot = LinearRegression().fit(boot[X_cols], boot["G3"])
print("bootstrap coefficients:", lin_boot.coef_.round(3))
