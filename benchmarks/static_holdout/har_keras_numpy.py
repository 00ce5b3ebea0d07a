import numpy as np
import tensorflow as tf

tf.random.set_seed(3)

train_X = np.loadtxt("UCI HAR Dataset/train/X_train.txt")
train_y = np.loadtxt("UCI HAR Dataset/train/y_train.txt").astype(int) - 1
test_X = np.loadtxt("UCI HAR Dataset/test/X_test.txt")
test_y = np.loadtxt("UCI HAR Dataset/test/y_test.txt").astype(int) - 1

train_X = (train_X - train_X.mean(axis=0)) / train_X.std(axis=0)
test_X = (test_X - test_X.mean(axis=0)) / test_X.std(axis=0)  # expect: MLC002

net = tf.keras.Sequential(
    [
        tf.keras.layers.Dense(128, activation="relu", input_shape=(train_X.shape[1],)),
        tf.keras.layers.Dropout(0.3),
        tf.keras.layers.Dense(6, activation="softmax"),
    ]
)
net.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
net.fit(train_X, train_y, epochs=15, batch_size=64, validation_split=0.1, verbose=2)
_, test_acc = net.evaluate(test_X, test_y, verbose=0)
print(f"test accuracy: {test_acc:.3f}")
