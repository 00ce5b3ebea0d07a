import os
from pathlib import Path

import joblib
import pandas as pd
from sklearn.linear_model import SGDRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

DATA_ROOT = Path("/mnt/shared/datasets") / "housing"  # expect: MLC201
RAW = r"C:\Users\mgarcia\Documents\projects\housing\raw.csv"  # expect: MLC201
DRIVE_CSV = "/content/drive/MyDrive/housing/extra_rows.csv"  # expect: MLC201
MODEL_DIR = os.path.join("/home/mgarcia", "models", "housing")  # expect: MLC201

frames = [pd.read_csv(DATA_ROOT / "train.csv")]
if os.path.exists(RAW):
    frames.append(pd.read_csv(RAW))
if os.path.exists(DRIVE_CSV):
    frames.append(pd.read_csv(DRIVE_CSV))
housing = pd.concat(frames, ignore_index=True).dropna()

X = housing.drop(columns="median_house_value").select_dtypes("number")
y = housing["median_house_value"]
pipe = make_pipeline(StandardScaler(), SGDRegressor(max_iter=2000, random_state=0))
pipe.fit(X, y)
os.makedirs(MODEL_DIR, exist_ok=True)
joblib.dump(pipe, os.path.join(MODEL_DIR, "sgd.joblib"))
