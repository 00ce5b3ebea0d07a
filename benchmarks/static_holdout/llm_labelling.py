import os

import pandas as pd
from huggingface_hub import login
from openai import OpenAI

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["KAGGLE_USERNAME"] = "datawrangler42"
os.environ["KAGGLE_KEY"] = "5be3a6f0c91d47e28a0b6c3d9e1f2a7b"  # expect: MLC202

login(token="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")  # expect: MLC202
client = OpenAI(api_key="sk-proj-4fT9xQ2mLk8vBn3cRt7yWp1zHs6dJg0eN5b")  # expect: MLC202

tickets = pd.read_csv("support_tickets.csv").head(200)
labels = []
for text in tickets["body"]:
    resp = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": f"Category of this ticket, one word: {text}"}],
        temperature=0,
    )
    labels.append(resp.choices[0].message.content.strip().lower())

tickets["category"] = labels
tickets.to_csv("tickets_labelled.csv", index=False)
