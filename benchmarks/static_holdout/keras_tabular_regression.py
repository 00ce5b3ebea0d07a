import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from tensorflow.keras.layers import Dense
from tensorflow.keras.models import Sequential

cols = ["MPG", "Cylinders", "Displacement", "Horsepower", "Weight", "Acceleration", "Year"]
raw = pd.read_csv(
    "auto-mpg.data", names=cols, na_values="?", sep=" ", skipinitialspace=True, usecols=range(7)
)
dataset = raw.dropna()

train_dataset, test_dataset = train_test_split(dataset, test_size=0.2, random_state=0)
train_labels = train_dataset.pop("MPG")
test_labels = test_dataset.pop("MPG")

norm = StandardScaler().fit(train_dataset)
normed_train = norm.transform(train_dataset)
normed_test = norm.transform(test_dataset)

model = Sequential([Dense(64, activation="relu"), Dense(64, activation="relu"), Dense(1)])
model.compile(loss="mse", optimizer="adam", metrics=["mae"])
model.fit(normed_train, train_labels, epochs=300, validation_split=0.2, verbose=0)  # expect: MLC103

loss, mae = model.evaluate(normed_test, test_labels, verbose=2)
print(f"Testing set Mean Abs Error: {mae:5.2f} MPG")
