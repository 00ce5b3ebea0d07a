from sklearn.datasets import load_iris
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import MinMaxScaler, StandardScaler

iris = load_iris()
X, y = iris.data, iris.target
print("feature means:", X.mean(axis=0))

X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=4)

sc = StandardScaler()
X_train_std = sc.fit_transform(X_train)
X_test_std = sc.transform(X_test)

mm = MinMaxScaler().fit(X_train)
X_train_mm, X_test_mm = mm.transform(X_train), mm.transform(X_test)

for name, (a, b) in {"std": (X_train_std, X_test_std), "minmax": (X_train_mm, X_test_mm)}.items():
    mlp = MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000, random_state=4)
    mlp.fit(a, y_train)
    print(name, accuracy_score(y_test, mlp.predict(b)))
