import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split
from tensorflow import keras

keras.utils.set_random_seed(99)

df = pd.read_csv("data/ionosphere.csv")
X = df.drop(columns="label").to_numpy("float32")
y = (df["label"] == "g").astype(int).to_numpy()
X_dev, X_test, y_dev, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=99)


def make_model(n_features, units):
    model = keras.Sequential(
        [
            keras.layers.Input(shape=(n_features,)),
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


skf = StratifiedKFold(n_splits=5, shuffle=True, random_state=99)
mean_acc = {}
for units in (8, 32, 64):
    accs = []
    for tr, va in skf.split(X_dev, y_dev):
        m = make_model(X.shape[1], units)
        stop = keras.callbacks.EarlyStopping(patience=5, restore_best_weights=True)
        m.fit(
            X_dev[tr],
            y_dev[tr],
            epochs=100,
            verbose=0,
            validation_data=(X_dev[va], y_dev[va]),
            callbacks=[stop],
        )
        accs.append(m.evaluate(X_dev[va], y_dev[va], verbose=0)[1])
    mean_acc[units] = np.mean(accs)

best_units = max(mean_acc, key=mean_acc.get)
final = make_model(X.shape[1], best_units)
final.fit(X_dev, y_dev, epochs=40, verbose=0)
print("units", best_units, "test accuracy", final.evaluate(X_test, y_test, verbose=0)[1])
