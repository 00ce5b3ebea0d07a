import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from tensorflow import keras

keras.utils.set_random_seed(1234)

df = pd.read_csv("pima_diabetes.csv")
X = df.drop(columns="Outcome").values.astype("float32")
y = df["Outcome"].values
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=1234)
mean, std = X_train.mean(axis=0), X_train.std(axis=0)
X_train, X_test = (X_train - mean) / std, (X_test - mean) / std

model = keras.Sequential(
    [
        keras.layers.Dense(32, activation="relu", input_shape=(X.shape[1],)),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])

ckpt = keras.callbacks.ModelCheckpoint("best.keras", monitor="val_accuracy", save_best_only=True)
model.fit(  # expect: MLC003
    X_train,
    y_train,
    epochs=150,
    batch_size=16,
    validation_data=(X_test, y_test),
    callbacks=[ckpt],
)

best = keras.models.load_model("best.keras")
loss, acc = best.evaluate(X_test, y_test, verbose=0)
print("test accuracy:", np.round(acc, 4))
