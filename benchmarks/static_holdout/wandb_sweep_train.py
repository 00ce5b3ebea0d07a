import os

import pandas as pd
import wandb
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

os.environ["WANDB_API_KEY"] = "8c1f0e7a9d2b4f6a8c1e3d5f7a9b0c2d4e6f8a1b"  # expect: MLC202
os.environ["WANDB_PROJECT"] = "forest-cover"
wandb.login(key="8c1f0e7a9d2b4f6a8c1e3d5f7a9b0c2d4e6f8a1b")  # expect: MLC202

cover = pd.read_csv("covtype.csv")
X_train, X_test, y_train, y_test = train_test_split(
    cover.drop(columns="Cover_Type"), cover["Cover_Type"], test_size=0.2, random_state=0
)

run = wandb.init(config={"n_estimators": 200, "max_depth": 20})
cfg = run.config
rf = RandomForestClassifier(n_estimators=cfg.n_estimators, max_depth=cfg.max_depth, random_state=0)
rf.fit(X_train, y_train)
wandb.log({"test_accuracy": accuracy_score(y_test, rf.predict(X_test))})
run.finish()
