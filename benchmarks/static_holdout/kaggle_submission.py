import os

import pandas as pd
from lightgbm import LGBMClassifier

INPUT = "/kaggle/input/playground-series-s3e7"  # expect: MLC201

train = pd.read_csv(os.path.join(INPUT, "train.csv"))
test = pd.read_csv(os.path.join(INPUT, "test.csv"))
extra = pd.read_csv("/kaggle/input/reservation-cancellation/train__dataset.csv")  # expect: MLC201
train = pd.concat([train, extra], ignore_index=True)

features = [c for c in train.columns if c not in ("id", "booking_status")]
model = LGBMClassifier(n_estimators=800, learning_rate=0.02, random_state=7)
model.fit(train[features], train["booking_status"])

sub = pd.DataFrame({"id": test["id"], "booking_status": model.predict_proba(test[features])[:, 1]})
sub.to_csv(os.path.join("/kaggle", "working", "submission.csv"), index=False)  # expect: MLC201
