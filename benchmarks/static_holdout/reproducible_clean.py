import random

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import KFold, cross_val_score

SEED = 31
random.seed(SEED)
np.random.seed(SEED)

# illustration only: what noise looks like
noise = np.random.default_rng(SEED).normal(size=500)
plt.hist(np.random.randn(1000), bins=40, alpha=0.5)
plt.hist(noise, bins=40, alpha=0.5)
plt.savefig("noise.png")

prices = pd.read_csv("data/diamonds.csv")
X = prices[["carat", "depth", "table", "x", "y", "z"]].to_numpy()
y = prices["price"].to_numpy()

kf = KFold(n_splits=5)
print("linear:", cross_val_score(LinearRegression(), X, y, cv=kf).mean())
hgb = HistGradientBoostingRegressor(early_stopping=False, max_iter=200)
print("hgb:", cross_val_score(hgb, X, y, cv=kf).mean())

centres = np.array([[0.3, 61.0], [1.0, 62.0], [2.0, 61.5]])
km = KMeans(n_clusters=3, init=centres, n_init=1).fit(X[:, :2])
print(np.bincount(km.labels_))

sample = prices.sample(n=1000, random_state=SEED)
print(sample[["carat", "price"]].corr())
