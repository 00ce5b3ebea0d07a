import numpy as np
from sklearn.cross_validation import KFold
from sklearn.datasets import load_boston
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.preprocessing import StandardScaler

boston = load_boston()
X = StandardScaler().fit_transform(boston.data)
y = boston.target

kf = KFold(len(X), n_folds=5, shuffle=True, random_state=0)
errors = []
for train_idx, test_idx in kf:  # expect: MLC004
    ridge = Ridge(alpha=1.0)
    ridge.fit(X[train_idx], y[train_idx])
    errors.append(mean_squared_error(y[test_idx], ridge.predict(X[test_idx])))

print("RMSE per fold:", np.sqrt(errors))
print(f"mean RMSE: {np.sqrt(np.mean(errors)):.2f}")
