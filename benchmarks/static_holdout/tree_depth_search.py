import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

hr = pd.read_csv("hr_attrition.csv")
X = pd.get_dummies(hr.drop(columns="Attrition"))
y = (hr["Attrition"] == "Yes").astype(int)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)

depths = list(range(2, 16))
test_scores = []
for d in depths:
    dt = DecisionTreeClassifier(max_depth=d, min_samples_leaf=5, random_state=0)
    dt.fit(Xtr, ytr)
    test_scores.append(roc_auc_score(yte, dt.predict_proba(Xte)[:, 1]))

best_depth = depths[np.argmax(test_scores)]  # expect: MLC003
print("best depth:", best_depth)

final_tree = DecisionTreeClassifier(max_depth=best_depth, min_samples_leaf=5, random_state=0)
final_tree.fit(Xtr, ytr)
print("test AUC:", roc_auc_score(yte, final_tree.predict_proba(Xte)[:, 1]))
