import pandas as pd
from comet_ml import Experiment
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sqlalchemy import create_engine

experiment = Experiment(api_key="qW3rT5yU7iO9pA1sD3fG5hJ7k", project_name="churn")  # expect: MLC202
engine = create_engine("postgresql://analyst:Sup3rS3cret!@10.0.3.12:5432/crm")  # expect: MLC202

df = pd.read_sql("SELECT * FROM churn_features", engine)
X_train, X_test, y_train, y_test = train_test_split(
    df.drop(columns="churned"), df["churned"], test_size=0.2, random_state=1
)
clf = LogisticRegression(max_iter=1000).fit(X_train, y_train)
experiment.log_metric("test_f1", f1_score(y_test, clf.predict(X_test)))
experiment.end()
