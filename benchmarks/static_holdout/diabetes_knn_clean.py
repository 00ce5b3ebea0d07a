import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

df = pd.read_csv("data/diabetes.csv")
print(df.describe())
print("mean glucose overall:", df["Glucose"].mean())

zero_means_missing = ["Glucose", "BloodPressure", "SkinThickness", "Insulin", "BMI"]
df[zero_means_missing] = df[zero_means_missing].replace(0, np.nan)
df["bmi_class"] = pd.cut(df["BMI"], bins=[0, 18.5, 25, 30, 100], labels=False)

train_df, test_df = train_test_split(df, test_size=0.25, stratify=df["Outcome"], random_state=1)

# statistics come from the training rows only
medians = train_df[zero_means_missing].median()
train_df = train_df.fillna(medians)
test_df = test_df.fillna(medians)
train_df["bmi_class"] = train_df["bmi_class"].fillna(-1)
test_df["bmi_class"] = test_df["bmi_class"].fillna(-1)

cols = [c for c in df.columns if c != "Outcome"]
mu, sigma = train_df[cols].mean(), train_df[cols].std()
train_df[cols] = (train_df[cols] - mu) / sigma
test_df[cols] = (test_df[cols] - mu) / sigma

knn = KNeighborsClassifier(n_neighbors=11)
knn.fit(train_df[cols], train_df["Outcome"])
print("test accuracy:", accuracy_score(test_df["Outcome"], knn.predict(test_df[cols])))
