import numpy as np
import tensorflow as tf
from sklearn.datasets import fetch_california_housing
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

tf.random.set_seed(7)
np.random.seed(7)

housing = fetch_california_housing()
X_train_full, X_test, y_train_full, y_test = train_test_split(
    housing.data, housing.target, random_state=7
)
X_train, X_valid, y_train, y_valid = train_test_split(X_train_full, y_train_full, random_state=7)

scaler = StandardScaler()
X_train = scaler.fit_transform(X_train)
X_valid = scaler.transform(X_valid)
X_test = scaler.transform(X_test)

model = tf.keras.Sequential(
    [
        tf.keras.layers.Dense(30, activation="relu", input_shape=X_train.shape[1:]),
        tf.keras.layers.Dense(30, activation="relu"),
        tf.keras.layers.Dense(1),
    ]
)
model.compile(loss="mse", optimizer=tf.keras.optimizers.SGD(learning_rate=1e-3))
early = tf.keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True)
history = model.fit(
    X_train, y_train, epochs=200, validation_data=(X_valid, y_valid), callbacks=[early]
)
mse_test = model.evaluate(X_test, y_test)
print("test MSE:", mse_test)
