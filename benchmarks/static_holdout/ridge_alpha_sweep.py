import numpy as np
import pandas as pd
from sklearn.linear_model import Lasso, Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

abalone = pd.read_csv("abalone.csv")
abalone = pd.get_dummies(abalone, columns=["Sex"])
X = abalone.drop(columns="Rings")
y = abalone["Rings"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=12)


def test_rmse(model):
    model.fit(X_train, y_train)
    return np.sqrt(mean_squared_error(y_test, model.predict(X_test)))


alphas = np.logspace(-3, 2, 30)
best_alpha = min(alphas, key=lambda a: test_rmse(Ridge(alpha=a)))  # expect: MLC003
print("ridge alpha:", best_alpha, "RMSE:", test_rmse(Ridge(alpha=best_alpha)))

results = pd.DataFrame(
    {"alpha": alphas, "rmse": [test_rmse(Lasso(alpha=a, max_iter=10000)) for a in alphas]}
)
best_row = results.loc[results["rmse"].idxmin()]  # expect: MLC003
print("lasso alpha:", best_row["alpha"], "RMSE:", best_row["rmse"])
