import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

stroke = pd.read_csv("healthcare-dataset-stroke-data.csv")
stroke = pd.get_dummies(stroke.drop(columns="id"), drop_first=True)
X = stroke.drop(columns="stroke").to_numpy(dtype=float)
y = stroke["stroke"].to_numpy()

X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=2)

# impute and scale with the training rows' statistics
col_mean = np.nanmean(X_train, axis=0)
col_std = np.nanstd(X_train, axis=0) + 1e-9
X_train = (np.where(np.isnan(X_train), col_mean, X_train) - col_mean) / col_std
X_test = (np.where(np.isnan(X_test), col_mean, X_test) - col_mean) / col_std

hgb = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=2)
hgb.fit(X_train, y_train)
print("held-out AUC:", roc_auc_score(y_test, hgb.predict_proba(X_test)[:, 1]))

# evaluation done: refit on every labelled row and ship it
X_all = np.vstack([X_train, X_test])
y_all = np.concatenate([y_train, y_test])
final = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=2)
final.fit(X_all, y_all)
joblib.dump(final, "models/stroke_hgb.joblib")
