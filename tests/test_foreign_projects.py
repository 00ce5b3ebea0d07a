"""Project shapes from the wild, each built here and taken through `mlci run` to production.

None of these is the bundled example: each is laid out the way public projects are (a DVC
pipeline with its own prepare/featurize/train scripts) and needs nothing from pytest-mlci but
its ``[tool.mlci]`` config and, where the data is not a table, one loader function:

* **text classification** after DVC's get-started project: headerless TSV splits, TF-IDF
  features pickled as ``(scipy.sparse matrix with id and label columns, feature names)``, a
  pickled RandomForest. Then a featurisation change (200 -> 300 features): the absolute gates
  are judged, the baseline gate fails naming the incompatibility, production stays;
* **XGBoost on numpy arrays** (an ``.npz`` file, a native ``.ubj`` model), served afterwards;
* **LightGBM** on a parquet table (a native text model), then retrained, promoted and rolled
  back;
* an **MLflow pyfunc model directory** (a ``python_function`` model wrapping a pipeline);
* a **training script that logs its model with MLflow** (``mlflow.sklearn.log_model`` inside
  ``start_run``, no change to the script): tests/test_mlflow_training.py, end to end from
  ``mlci run`` to production with the run linked to the registered version.

Slow: each runs DVC, the evaluation and staging in child processes, as CI does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

GENERATE = '''\
"""Synthetic rows with a learnable label (seeded)."""
import numpy as np


def rows(n, seed, features=6):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features))
    logits = 1.4 * X[:, 0] - 1.1 * X[:, 1] + 0.7 * X[:, 2]
    y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(np.int64)
    return X, y
'''


def sh(root: Path, *args: str) -> None:
    subprocess.run(args, cwd=root, check=True, capture_output=True)


def mlci(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlci_local", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "MLCI_ACTOR": "ci@example.com", "NO_COLOR": "1", "COLUMNS": "200"},
    )


def project(root: Path, files: dict[str, str]) -> Path:
    """A git + DVC repository holding ``files``, committed."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    sh(root, "git", "init", "-q", "-b", "main")
    sh(root, "git", "config", "user.email", "dev@example.com")
    sh(root, "git", "config", "user.name", "Dev")
    sh(root, sys.executable, "-m", "dvc", "init", "-q")
    sh(root, sys.executable, "-m", "dvc", "config", "core.analytics", "false")
    commit(root, "project")
    return root


def commit(root: Path, message: str) -> None:
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-q", "-m", message)


def passed(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    return run.stdout


def served(root: Path, *requests: dict) -> list[tuple[int, dict]]:
    """POST each request to ``/invocations`` of a real `mlci serve` for ``root``; the status
    and JSON body of each answer."""
    import socket
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "mlci_local", "serve", "--port", str(port)],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    answers = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as health:
                    if health.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline, "mlci serve did not become healthy"
            time.sleep(0.3)
        for request in requests:
            post = urllib.request.Request(
                f"{base}/invocations",
                data=json.dumps(request).encode(),
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(post, timeout=30) as response:
                    answers.append((response.status, json.loads(response.read())))
            except urllib.error.HTTPError as refused:
                answers.append((refused.code, json.loads(refused.read())))
    finally:
        server.terminate()
        server.wait(timeout=30)
    return answers


def status(root: Path) -> dict:
    return json.loads(mlci(root, "status", "--json").stdout)


# ------------------------------------------------------------------ LightGBM on a parquet table

LIGHTGBM = {
    ".gitignore": "/data\n/models\n.mlci/\n",
    "generate.py": GENERATE,
    "params.yaml": "train:\n  rounds: 40\n",
    "prepare.py": """\
        import pathlib

        import pandas as pd

        from generate import rows

        pathlib.Path("data").mkdir(exist_ok=True)
        for name, n, seed in (("train", 4000, 1), ("test", 2000, 2)):
            X, y = rows(n, seed)
            frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
            frame["churned"] = y
            frame.to_parquet(f"data/{name}.parquet")
        """,
    "train.py": """\
        import pathlib

        import lightgbm
        import pandas as pd
        import yaml

        rounds = yaml.safe_load(open("params.yaml"))["train"]["rounds"]
        frame = pd.read_parquet("data/train.parquet")
        X, y = frame.drop(columns="churned"), frame["churned"]
        model = lightgbm.LGBMClassifier(n_estimators=rounds, random_state=0, verbose=-1)
        model.fit(X, y)
        pathlib.Path("models").mkdir(exist_ok=True)
        model.booster_.save_model("models/model.txt")
        """,
    "dvc.yaml": """\
        stages:
          prepare:
            cmd: python prepare.py
            deps: [prepare.py, generate.py]
            outs: [data]
          train:
            cmd: python train.py
            deps: [train.py, data]
            params: [train.rounds]
            outs: [models/model.txt]
        """,
    "pyproject.toml": """\
        [tool.mlci]
        model = "churn"
        task = "binary_classification"
        target = "churned"
        artifact = "models/model.txt"
        on_missing_baseline = "allow-first"

        [tool.mlci.datasets.eval]
        path = "data/test.parquet"

        [tool.mlci.gates]
        roc_auc = [">= 0.75", ">= baseline - 0.05"]
        """,
}


def test_a_lightgbm_model_goes_to_production_and_rolls_back(tmp_path):
    root = project(tmp_path / "churn", LIGHTGBM)
    out = passed(mlci(root, "run"))
    assert "production -> v1" in out
    assert "candidate labels" not in out  # the run prints stage lines, the report holds it
    report = json.loads(next((root / ".mlci" / "reports").glob("evaluation-*.json")).read_text())
    assert report["scoring"]["candidate"].startswith("labels derived from predict_proba")

    (root / "params.yaml").write_text("train:\n  rounds: 60\n")
    commit(root, "more rounds")
    out = passed(mlci(root, "run"))
    assert "production -> v2" in out
    assert status(root)["aliases"]["production"]["version"] == "2"

    passed(mlci(root, "rollback", "--reason", "test", "--yes"))
    assert status(root)["aliases"]["production"]["version"] == "1"

    # `mlci serve` answers with the rolled-back LightGBM model, loaded from the registry.
    ((code, body),) = served(
        root,
        {
            "dataframe_split": {
                "columns": [f"f{i}" for i in range(6)],
                "data": [[2, -2, 1, 0, 0, 0], [-2, 2, -1, 0, 0, 0]],
            }
        },
    )
    assert code == 200, body
    high, low = body["predictions"]
    assert 0.5 < high <= 1 and 0 <= low < 0.5


# ------------------------------------------------------------------ an MLflow pyfunc directory

PYFUNC = {
    ".gitignore": "/data\n/models\n.mlci/\n",
    "generate.py": GENERATE,
    "prepare.py": """\
        import pathlib

        import pandas as pd

        from generate import rows

        pathlib.Path("data").mkdir(exist_ok=True)
        for name, n, seed in (("train", 3000, 1), ("test", 1500, 2)):
            X, y = rows(n, seed)
            frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
            frame["label"] = y
            frame.to_csv(f"data/{name}.csv", index=False)
        """,
    "train.py": """\
        import shutil

        import mlflow.pyfunc
        import pandas as pd
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler


        class Churn(mlflow.pyfunc.PythonModel):
            \"\"\"The team's serving wrapper: probabilities of the positive class.\"\"\"

            def __init__(self, pipeline):
                self.pipeline = pipeline

            def predict(self, context, model_input, params=None):
                return self.pipeline.predict_proba(model_input)[:, 1]


        frame = pd.read_csv("data/train.csv")
        X, y = frame.drop(columns="label"), frame["label"]
        pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
        shutil.rmtree("models/pyfunc", ignore_errors=True)
        mlflow.pyfunc.save_model(
            "models/pyfunc", python_model=Churn(pipeline), input_example=X.head(3),
            pip_requirements=["scikit-learn", "pandas"],
        )
        """,
    "dvc.yaml": """\
        stages:
          prepare:
            cmd: python prepare.py
            deps: [prepare.py, generate.py]
            outs: [data]
          train:
            cmd: python train.py
            deps: [train.py, data]
            outs: [models/pyfunc]
        """,
    "pyproject.toml": """\
        [tool.mlci]
        model = "pyfunc-churn"
        task = "binary_classification"
        target = "label"
        artifact = "models/pyfunc"
        on_missing_baseline = "allow-first"
        allow_pickle = true   # a python_function model is cloudpickled by MLflow

        [tool.mlci.datasets.eval]
        path = "data/test.csv"

        [tool.mlci.gates]
        roc_auc = ">= 0.75"
        accuracy = ">= 0.6"
        """,
}


def test_an_mlflow_pyfunc_directory_goes_to_production(tmp_path):
    root = project(tmp_path / "pyfunc", PYFUNC)
    out = passed(mlci(root, "run"))
    assert "production -> v1" in out
    version = status(root)
    assert version["aliases"]["production"]["version"] == "1"

    # Registered folder by folder: every file is in the manifest, staging loaded it back.
    from mlflow.tracking import MlflowClient

    from pytest_mlci.config import load_config

    client = MlflowClient(load_config(root / "pyproject.toml").registry_uri)
    registered = client.get_model_version("pyfunc-churn", "1")
    assert registered.tags["mlci.artifact_file"] == "pyfunc/"
    assert {"MLmodel", "python_model.pkl"} <= set(json.loads(registered.tags["mlci.manifest"]))

    # Saved again (a new uuid and time in MLmodel, the same model): nothing new to register.
    passed(mlci(root, "run"))  # up to date
    # what a runner without a DVC cache does: the stage runs again (`python` is this venv's)
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    subprocess.run(
        [sys.executable, "-m", "dvc", "repro", "-f", "train"],
        cwd=root,
        check=True,
        capture_output=True,
        env={**os.environ, "PATH": path},
    )
    out = passed(mlci(root, "run"))
    assert "same content digest" in out
    assert status(root)["versions"] == ["1"]


# ------------------------------------------------------------------ text classification (sparse)

WORDS = ["alpha", "beta", "gamma", "delta", "sigma", "omega", "kappa", "theta", "zeta", "eta"]

TEXT = {
    ".gitignore": "/data\n/models\n.mlci/\n",
    "params.yaml": "featurize:\n  max_features: 200\n",
    # Headerless TSV splits (id, label, text), as the get-started project's prepare stage writes.
    "src/prepare.py": """\
        import pathlib
        import random

        VOCABULARY = [f"{a}{b}" for a in WORDS for b in WORDS] + [f"w{i}" for i in range(300)]

        def post(rng):
            label = int(rng.random() < 0.3)
            cue = ["python", "pandas", "numpy"] if label else ["java", "spring", "maven"]
            words = rng.sample(VOCABULARY, 12) + rng.sample(cue, 2)
            return label, " ".join(words)

        rng = random.Random(7)
        out = pathlib.Path("data/prepared")
        out.mkdir(parents=True, exist_ok=True)
        for split, n in (("train", 3000), ("test", 1500)):
            with open(out / f"{split}.tsv", "w") as handle:
                for i in range(n):
                    label, text = post(rng)
                    handle.write(f"{i}\\t{label}\\t{text}\\n")
        """.replace("WORDS", repr(WORDS)),
    # TF-IDF, pickled as (sparse [id | label | tf-idf ...], feature names) per split.
    "src/featurize.py": """\
        import pathlib
        import pickle

        import numpy as np
        import pandas as pd
        import scipy.sparse as sparse
        import yaml
        from sklearn.feature_extraction.text import TfidfVectorizer

        params = yaml.safe_load(open("params.yaml"))["featurize"]
        columns = ["id", "label", "text"]
        train = pd.read_csv("data/prepared/train.tsv", sep="\\t", header=None, names=columns)
        test = pd.read_csv("data/prepared/test.tsv", sep="\\t", header=None, names=columns)
        vectorizer = TfidfVectorizer(max_features=params["max_features"])
        vectorizer.fit(train.text)
        names = list(vectorizer.get_feature_names_out())
        pathlib.Path("data/features").mkdir(parents=True, exist_ok=True)
        for split, frame in (("train", train), ("test", test)):
            ids = sparse.csr_matrix(frame.id.astype(np.int64).to_numpy()).T
            labels = sparse.csr_matrix(frame.label.astype(np.int64).to_numpy()).T
            matrix = sparse.hstack([ids, labels, vectorizer.transform(frame.text)], format="csr")
            with open(f"data/features/{split}.pkl", "wb") as handle:
                pickle.dump((matrix, names), handle)
        """,
    "src/train.py": """\
        import pathlib
        import pickle

        import numpy as np
        from sklearn.ensemble import RandomForestClassifier

        with open("data/features/train.pkl", "rb") as handle:
            matrix, _ = pickle.load(handle)
        labels = np.squeeze(matrix[:, 1].toarray())
        model = RandomForestClassifier(n_estimators=40, min_samples_split=4, random_state=0)
        model.fit(matrix[:, 2:], labels)
        pathlib.Path("models").mkdir(exist_ok=True)
        with open("models/model.pkl", "wb") as handle:
            pickle.dump(model, handle)
        """,
    # The one function the project writes for pytest-mlci: its features are not a table.
    "src/mlci_data.py": """\
        import pickle

        import numpy as np


        def load(path):
            with open(path, "rb") as handle:
                matrix, names = pickle.load(handle)
            return matrix[:, 2:], np.squeeze(matrix[:, 1].toarray()), names
        """,
    "dvc.yaml": """\
        stages:
          prepare:
            cmd: python src/prepare.py
            deps: [src/prepare.py]
            outs: [data/prepared]
          featurize:
            cmd: python src/featurize.py
            deps: [src/featurize.py, data/prepared]
            params: [featurize.max_features]
            outs: [data/features]
          train:
            cmd: python src/train.py
            deps: [src/train.py, data/features]
            outs: [models/model.pkl]
        """,
    "pyproject.toml": """\
        [tool.mlci]
        model = "stackoverflow-tags"
        task = "binary_classification"
        target = "label"
        artifact = "models/model.pkl"
        allow_pickle = true     # the project pickles its forest; its sha256 is checked
        on_missing_baseline = "allow-first"

        [tool.mlci.datasets.eval]
        path = "data/features/test.pkl"
        loader = "src.mlci_data:load"
        expected_rows = 1500

        [tool.mlci.datasets.posts]
        path = "data/prepared/test.tsv"
        sep = "\\t"
        header = false
        columns = ["id", "label", "text"]
        target = "label"
        expected_rows = 1500
        max_duplicate_rate = 0.0

        [tool.mlci.gates]
        average_precision = [">= 0.6", ">= baseline - 0.02"]
        roc_auc = ">= 0.8"
        """,
}


def test_a_text_classifier_on_pickled_sparse_features(tmp_path):
    root = project(tmp_path / "text", TEXT)
    out = passed(mlci(root, "run"))
    assert "eval 1,500 rows x 200 features (sparse)" in out
    assert "production -> v1" in out

    # Featurisation change: 300 TF-IDF columns. Production (200) cannot score them.
    (root / "params.yaml").write_text("featurize:\n  max_features: 300\n")
    commit(root, "more features")
    run = mlci(root, "run")
    out = run.stdout
    assert run.returncode == 1, out + run.stderr
    assert "Traceback" not in out + run.stderr
    assert "production v1 expects 200 features; the evaluation data has 300" in out
    assert "average_precision >= baseline - 0.02" in out
    judged = json.loads(
        max(
            (root / ".mlci" / "reports").glob("evaluation-*.json"), key=os.path.getmtime
        ).read_text()
    )
    verdicts = {g["gate"]: g["verdict"] for g in judged["gates"]}
    assert verdicts == {
        "average_precision >= 0.6": "pass",  # absolute gates: judged on the candidate
        "average_precision >= baseline - 0.02": "fail",
        "roc_auc >= 0.8": "pass",
    }
    assert status(root)["aliases"]["production"]["version"] == "1"  # untouched


# ------------------------------------------------------------------ XGBoost on numpy arrays

XGBOOST = {
    ".gitignore": "/data\n/models\n.mlci/\n",
    "generate.py": GENERATE,
    "prepare.py": """\
        import pathlib

        import numpy as np

        from generate import rows

        pathlib.Path("data").mkdir(exist_ok=True)
        for name, n, seed in (("train", 4000, 1), ("test", 2000, 2), ("reference", 2000, 3)):
            X, y = rows(n, seed)
            np.savez(f"data/{name}.npz", X=X, y=y)
        """,
    "train.py": """\
        import pathlib

        import numpy as np
        import xgboost

        data = np.load("data/train.npz")
        model = xgboost.XGBClassifier(n_estimators=40, max_depth=3, random_state=0)
        model.fit(data["X"], data["y"])
        pathlib.Path("models").mkdir(exist_ok=True)
        model.save_model("models/model.ubj")
        """,
    "arrays.py": """\
        import numpy as np


        def load(path):
            data = np.load(path)
            return data["X"], data["y"]
        """,
    "dvc.yaml": """\
        stages:
          prepare:
            cmd: python prepare.py
            deps: [prepare.py, generate.py]
            outs: [data]
          train:
            cmd: python train.py
            deps: [train.py, data]
            outs: [models/model.ubj]
        """,
    "pyproject.toml": """\
        [tool.mlci]
        model = "fraud"
        task = "binary_classification"
        target = "y"
        artifact = "models/model.ubj"
        on_missing_baseline = "allow-first"

        [tool.mlci.datasets.eval]
        path = "data/test.npz"
        loader = "arrays:load"
        reference = "data/reference.npz"

        [tool.mlci.gates]
        roc_auc = ">= 0.75"
        recall = ">= 0.5"
        """,
}


def test_an_xgboost_model_on_numpy_arrays_is_served(tmp_path):
    root = project(tmp_path / "fraud", XGBOOST)
    out = passed(mlci(root, "run"))
    assert "eval 2,000 rows x 6 features (dense)" in out
    assert "production -> v1" in out

    # An unnamed array model takes rows as arrays ("instances"), as MLflow's server does.
    (code, body), (short, refused) = served(
        root,
        {"instances": [[2, -2, 1, 0, 0, 0], [-2, 2, -1, 0, 0, 0]]},
        {"instances": [[2, -2, 1, 0, 0]]},  # a value short: the client's mistake, not a 500
    )
    assert code == 200, body
    high, low = body["predictions"]
    assert 0.5 < high <= 1 and 0 <= low < 0.5
    assert short == 400
    assert refused["message"] == "instances rows have 5 values; the model takes 6"
