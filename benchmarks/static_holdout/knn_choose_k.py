import matplotlib.pyplot as plt
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=66)

scaler = StandardScaler().fit(X_train)
X_train_s, X_test_s = scaler.transform(X_train), scaler.transform(X_test)

best_acc, best_k = 0.0, None
accs = []
for k in range(1, 31):
    knn = KNeighborsClassifier(n_neighbors=k)
    knn.fit(X_train_s, y_train)
    acc = accuracy_score(y_test, knn.predict(X_test_s))
    accs.append(acc)
    if acc > best_acc:  # expect: MLC003
        best_acc, best_k = acc, k

plt.plot(range(1, 31), accs)
plt.xlabel("k")
plt.ylabel("test accuracy")
plt.show()
print(f"Best k = {best_k} with accuracy {best_acc:.3f}")
