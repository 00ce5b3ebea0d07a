import os

import pandas as pd
import pymysql
from huggingface_hub import HfApi

os.chdir("/content/drive/MyDrive/churn_project")  # expect: MLC201
RAW_XLSX = "D:/work/churn/raw/customers_2023.xlsx"  # expect: MLC201

conn = pymysql.connect(
    host="10.20.0.7",
    user="ds_reader",
    password="Welc0me2023!",  # expect: MLC202
    database="crm",
)
events = pd.read_sql("SELECT customer_id, event, ts FROM events", conn)
customers = pd.read_excel(RAW_XLSX)

features = events.groupby("customer_id").agg(n_events=("event", "size"), last_ts=("ts", "max"))
features = customers.merge(features, on="customer_id", how="left")
features.to_parquet("features.parquet")

api = HfApi(token="hf_pXwT7rQ2nL9vK4mZ8sJ6bY1cD3fH5gA0eU")  # expect: MLC202
api.upload_file(
    path_or_fileobj="features.parquet",
    path_in_repo="features.parquet",
    repo_id="acme/churn-features",
    repo_type="dataset",
)
