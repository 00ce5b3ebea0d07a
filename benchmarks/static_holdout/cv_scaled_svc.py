import pandas as pd
from sklearn.model_selection import cross_val_score
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

sonar = pd.read_csv("sonar.all-data.csv", header=None)
X = sonar.iloc[:, :-1].values
y = (sonar.iloc[:, -1] == "M").astype(int).values

print(X.shape, "class balance:", y.mean().round(2))

X_scaled = StandardScaler().fit_transform(X)

for C in [0.1, 1, 10]:
    scores = cross_val_score(SVC(C=C, gamma="scale"), X_scaled, y, cv=10)  # expect: MLC004
    print(f"C={C}: {scores.mean():.3f} +/- {scores.std():.3f}")
