import matplotlib.pyplot as plt
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder, OneHotEncoder, StandardScaler

heart = pd.read_csv("data/heart.csv")
target = LabelEncoder().fit_transform(heart.pop("diagnosis"))

numeric = ["age", "trestbps", "chol", "thalach", "oldpeak"]
categorical = ["cp", "restecg", "slope", "thal"]

# a 2-D picture of the raw numeric features, for the report only
coords = PCA(n_components=2).fit_transform(heart[numeric].fillna(0))
plt.scatter(coords[:, 0], coords[:, 1], c=target, s=8)
plt.savefig("pca_overview.png")

X_train, X_test, y_train, y_test = train_test_split(
    heart, target, test_size=0.2, stratify=target, random_state=17
)

preprocess = ColumnTransformer(
    [
        (
            "num",
            Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
            numeric,
        ),
        ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
    ]
)
clf = Pipeline([("prep", preprocess), ("model", LogisticRegression(max_iter=1000))])
clf.fit(X_train, y_train)
print("test AUC:", roc_auc_score(y_test, clf.predict_proba(X_test)[:, 1]))
