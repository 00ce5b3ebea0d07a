import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.ensemble import (
    BaggingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

# what uniform noise looks like (only drawn, never used by a model)
plt.hist(np.random.rand(2000), bins=50)
plt.title("uniform samples")
plt.savefig("uniform.png")

occupancy = pd.read_csv("data/room_occupancy.csv")
X = occupancy[["Temperature", "Humidity", "Light", "CO2"]].to_numpy()
y = occupancy["Occupancy"].to_numpy()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=8)

models = {
    "hgb": HistGradientBoostingClassifier(early_stopping=False, max_iter=150),
    "bagged_trees": BaggingClassifier(DecisionTreeClassifier(), n_estimators=50, random_state=8),
}
forest = RandomForestClassifier(n_estimators=200)
forest.set_params(random_state=8)
models["forest"] = forest

sgd = SGDClassifier(loss="log_loss")
np.random.seed(8)
sgd.fit(X_train, y_train)
print("sgd", accuracy_score(y_test, sgd.predict(X_test)))

for name, model in models.items():
    model.fit(X_train, y_train)
    print(name, accuracy_score(y_test, model.predict(X_test)))

start = np.array([[20.0, 400.0], [23.0, 1000.0]])
rooms = KMeans(n_clusters=2, init=start, n_init=1).fit(X_train[:, [0, 3]])
print("cluster sizes:", np.bincount(rooms.labels_))
