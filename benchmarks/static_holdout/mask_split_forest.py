import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score

df = pd.read_csv("mushrooms.csv")
df = pd.get_dummies(df, columns=[c for c in df.columns if c != "class"])
df["class"] = (df["class"] == "p").astype(int)

msk = np.random.rand(len(df)) < 0.8  # expect: MLC103
train = df[msk]
test = df[~msk]
print(len(train), "train rows,", len(test), "test rows")

features = [c for c in df.columns if c != "class"]
clf = RandomForestClassifier(n_estimators=50, n_jobs=-1)  # expect: MLC101
clf.fit(train[features], train["class"])
print("accuracy:", accuracy_score(test["class"], clf.predict(test[features])))
