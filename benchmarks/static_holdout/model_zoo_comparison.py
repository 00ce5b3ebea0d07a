import numpy as np
import pandas as pd
from sklearn.ensemble import AdaBoostClassifier, ExtraTreesClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

water = pd.read_csv("water_potability.csv").dropna()
X = water.drop(columns="Potability").to_numpy()
y = water["Potability"].to_numpy()

models = {
    "logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
    "knn": make_pipeline(StandardScaler(), KNeighborsClassifier(15)),
    "svc": make_pipeline(StandardScaler(), SVC(probability=True)),  # expect: MLC101
    "mlp": make_pipeline(StandardScaler(), MLPClassifier(max_iter=800)),  # expect: MLC101
    "extra": ExtraTreesClassifier(n_estimators=300, random_state=1),
    "ada": AdaBoostClassifier(n_estimators=200),  # expect: MLC101
}
cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=1)
for name, model in models.items():
    scores = cross_val_score(model, X, y, cv=cv, scoring="roc_auc")
    print(f"{name:7s} {np.mean(scores):.3f} +/- {np.std(scores):.3f}")
