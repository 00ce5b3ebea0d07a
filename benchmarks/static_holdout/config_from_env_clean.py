import os
import tempfile
from pathlib import Path

import joblib
import mlflow
import pandas as pd
from sklearn.ensemble import RandomForestRegressor

os.environ["CUDA_VISIBLE_DEVICES"] = "0"
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
os.environ.setdefault("MLFLOW_TRACKING_URI", "http://localhost:5000")

DATA_DIR = Path(os.environ.get("DATA_DIR", "data"))
HERE = Path(__file__).resolve().parent
api_key = os.environ["WANDB_API_KEY"]
db_password = os.getenv("DB_PASSWORD")
print("credentials present:", bool(api_key), bool(db_password))

train = pd.read_csv(DATA_DIR / "train.csv")
params = pd.read_json(HERE / "params.json", typ="series")

model = RandomForestRegressor(n_estimators=int(params["n_estimators"]), random_state=0)
model.fit(train.drop(columns="target"), train["target"])

with tempfile.TemporaryDirectory() as tmp:
    joblib.dump(model, os.path.join(tmp, "model.joblib"))
    mlflow.log_artifact(os.path.join(tmp, "model.joblib"))
joblib.dump(model, "/tmp/rf_latest.joblib")
cache = Path("/tmp") / "features.parquet"
train.to_parquet(cache)
