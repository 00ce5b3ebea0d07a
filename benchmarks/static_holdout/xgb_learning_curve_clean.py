import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier, export_text

loans = pd.read_csv("data/lending_club_sample.csv")
X = loans.drop(columns="default").select_dtypes("number")
y = loans["default"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=3)

clf = xgb.XGBClassifier(n_estimators=400, learning_rate=0.05, eval_metric="logloss")
clf.fit(X_train, y_train, eval_set=[(X_train, y_train), (X_test, y_test)], verbose=False)

curves = clf.evals_result()
test_curve = curves["validation_1"]["logloss"]
lowest = int(np.argmin(test_curve))
plt.plot(curves["validation_0"]["logloss"], label="train")
plt.plot(test_curve, label="test")
plt.axvline(lowest, linestyle="--", color="grey")
plt.legend()
plt.savefig("learning_curve.png")

# a shallow tree to explain the score to the business
tree = DecisionTreeClassifier(max_depth=3, random_state=3).fit(X_train, y_train)
print(export_text(tree, feature_names=list(X_test.columns)))
path = tree.decision_path(X_test.iloc[:1])
print("nodes visited by the first applicant:", path.indices)
print("predicted class:", np.argmax(tree.predict_proba(X_test.iloc[:1]), axis=1))
