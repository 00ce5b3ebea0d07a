import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

sales = pd.read_parquet("data/store_sales.parquet")
feats = [c for c in sales.columns if c.startswith("f_")]
x_train, x_test, y_train, y_test = train_test_split(
    sales[feats], sales["sales"], test_size=0.15, random_state=42
)

dtrain = lgb.Dataset(x_train, label=y_train)
dtest = lgb.Dataset(x_test, label=y_test, reference=dtrain)
params = {"objective": "regression", "learning_rate": 0.03, "num_leaves": 63, "seed": 42}

booster = lgb.train(  # expect: MLC003
    params,
    dtrain,
    num_boost_round=10000,
    valid_sets=[dtest],
    callbacks=[lgb.early_stopping(100), lgb.log_evaluation(200)],
)
pred = booster.predict(x_test, num_iteration=booster.best_iteration)
print("test RMSE:", np.sqrt(mean_squared_error(y_test, pred)))
