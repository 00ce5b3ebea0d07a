import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score

digits = load_digits()
X, y = digits.data / 16.0, digits.target


def split_indices(n, test_frac=0.2):
    idx = np.random.permutation(n)  # expect: MLC103
    n_test = int(n * test_frac)
    return idx[n_test:], idx[:n_test]


train_idx, test_idx = split_indices(len(X))
Xtr, ytr = X[train_idx], y[train_idx]
Xte, yte = X[test_idx], y[test_idx]

softmax_reg = LogisticRegression(max_iter=3000, C=10)
softmax_reg.fit(Xtr, ytr)
print("test accuracy:", accuracy_score(yte, softmax_reg.predict(Xte)))
