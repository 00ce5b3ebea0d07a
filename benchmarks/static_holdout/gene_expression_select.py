import numpy as np
import pandas as pd
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

expr = pd.read_csv("data/leukemia_expression.csv", index_col=0)
labels = pd.read_csv("data/leukemia_labels.csv", index_col=0)["cancer"]
print(expr.shape)  # a few dozen patients, thousands of genes

X = np.log2(expr.values + 1)
y = (labels == "AML").astype(int).values

selector = SelectKBest(f_classif, k=50)
X_top = selector.fit_transform(X, y)  # expect: MLC001
top_genes = expr.columns[selector.get_support()]
print("top genes:", list(top_genes[:10]))

X_train, X_test, y_train, y_test = train_test_split(
    X_top, y, test_size=0.3, stratify=y, random_state=5
)
nb = GaussianNB().fit(X_train, y_train)
print("balanced accuracy:", balanced_accuracy_score(y_test, nb.predict(X_test)))
