"""The files ``mlci init`` writes: templates and the writer that refuses to clobber.

Why templates live here as string constants rather than files under ``templates/``: they
ship inside the module with no package-data setup, ``mlci init --help`` imports nothing but
this module, and a test can render them without touching the filesystem.

Why placeholders are ``@@NAME@@`` and not ``str.format`` or ``string.Template``: the CI
files are full of ``${{ ... }}`` and ``$VAR`` that must reach the CI system untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

TASKS = ("binary_classification", "multiclass", "regression")
CI_FILES = {
    "github": ".github/workflows/mlci.yml",
    "gitlab": ".gitlab-ci.yml",
    "jenkins": "Jenkinsfile",
}
ARTIFACT = "models/model.skops"
PYTHON_VERSION = "3.11"
REGISTRY_SECRET = "MLCI_REGISTRY"  # the env var pytest_mlci.config reads (REGISTRY_ENV)
JENKINS_CREDENTIAL = "mlci-registry"

# metric, absolute floor, the other metrics of the task (for the comment)
_GATES = {
    "binary_classification": (
        "roc_auc",
        ">= 0.75",
        "accuracy, precision, recall, f1, roc_auc, log_loss, brier_score",
    ),
    "multiclass": ("f1", ">= 0.60", "accuracy, precision, recall, f1 (macro averages)"),
    "regression": ("r2", ">= 0.50", "mae, rmse, r2, mape"),
}


@dataclass(frozen=True)
class ScaffoldOptions:
    """What the user told ``mlci init``; everything else is a documented default."""

    model: str
    task: str
    target: str
    ci: tuple[str, ...] = tuple(CI_FILES)


class ExistingFiles(Exception):
    """Raised instead of overwriting: the user's own files are never replaced silently."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__(", ".join(paths))
        self.paths = paths


# --------------------------------------------------------------------------- templates

MLCI_TOML = """\
# pytest-mlci configuration, written by `mlci init`. Every key is documented in the README
# ("Configuration"). The same keys may live under [tool.mlci] in pyproject.toml instead;
# mlci.toml wins when both exist.

model = @@MODEL@@          # the registered model name in MLflow
task = @@TASK@@
target = @@TARGET@@        # the label column
artifact = "@@ARTIFACT@@"   # the file `dvc repro` produces (skops format)

# What happens when there is no production model yet to compare with.
# "allow-first": gates against `baseline` are WAIVED (shown, not silently passed) and tests
#   using the mlci_baseline fixture are skipped, so the very first model can be promoted.
# "fail" (the default when the key is absent): fail closed; use it once production exists.
on_missing_baseline = "allow-first"

# Your own evaluation tests, run by `mlci run` together with the gates below.
tests = ["tests/test_model_gates.py"]

# tier = "medium"                       # low | medium | high (high needs [approvals])
# registry = "sqlite:///.mlci/mlflow.db" # the embedded default. In CI, do not commit a server
#                                        # URI: the environment variable MLCI_REGISTRY
#                                        # overrides this key (set it from a CI secret).
# trusted_types = []                    # extra types skops may load

[datasets.eval]
path = "data/eval.parquet"              # the data gates are computed on (`dvc repro` makes it)
# schema = "data/eval.schema.yaml"      # a pandera YAML schema or "module:Object"
# reference = "data/train.parquet"      # switches on volume, quality and drift checks
# protected = ["gender"]                # columns for fairness metrics

[gates]
# "<op> <number>" is an absolute floor; "baseline" is the production model, compared on the
# same rows with a paired bootstrap. Metrics for @@TASK_NAME@@: @@METRICS@@.
@@METRIC@@ = ["@@FLOOR@@", ">= baseline - 0.01"]

# [static]
# paths = ["src"]                       # what the static ML rules (check-ml-code) look at

# [evaluation]
# resamples = 500
# confidence = 0.95
# seed = 0
"""

DVC_YAML = """\
# A pipeline stub written by `mlci init`: replace each `cmd` with your own script and keep
# the outputs in line with mlci.toml (`artifact` and datasets.eval.path).
# `mlci run` drives `dvc repro`; dvc.lock then records the data lineage.
stages:
  prepare:
    cmd: python src/prepare.py          # EDIT: split raw data into train and eval
    deps:
      - src/prepare.py
    outs:
      - data/train.parquet
      - data/eval.parquet
  train:
    cmd: python src/train.py            # EDIT: fit and save with skops.io.dump
    deps:
      - src/train.py
      - data/train.parquet
    outs:
      - @@ARTIFACT@@
  evaluate:
    cmd: python src/evaluate.py         # EDIT: optional extra metrics for `dvc metrics`
    deps:
      - src/evaluate.py
      - @@ARTIFACT@@
      - data/eval.parquet
    metrics:
      - metrics/eval.json:
          cache: false
"""

_TEST_HEADER = '''\
"""Example evaluation tests, written by `mlci init`.

`pytest --mlci` runs them next to the gates declared in mlci.toml, and `mlci run` runs
them because mlci.toml lists this file under `tests`. The fixtures come from the plugin:
`mlci_model` is the candidate model (the configured artifact), `mlci_data` the evaluation
data, already validated against its schema. Both are loaded once per session.
"""

from __future__ import annotations

import numpy as np

TARGET = @@TARGET_PY@@


def features(data):
    """The evaluation rows without the label, as the model sees them in production."""
    return data.drop(columns=[TARGET])


def test_the_model_predicts_one_value_per_row(mlci_model, mlci_data):
    rows = features(mlci_data)
    predictions = np.asarray(mlci_model.predict(rows))
    assert predictions.shape[0] == len(rows)


def test_predictions_do_not_depend_on_row_order(mlci_model, mlci_data):
    rows = features(mlci_data).head(200)
    forward = np.asarray(mlci_model.predict(rows))
    backward = np.asarray(mlci_model.predict(rows.iloc[::-1]))[::-1]
    assert (forward == backward).all()
'''

_TEST_CLASSIFICATION = """

def test_probabilities_are_valid(mlci_model, mlci_data):
    probabilities = np.asarray(mlci_model.predict_proba(features(mlci_data).head(200)))
    assert np.isfinite(probabilities).all()
    assert np.allclose(probabilities.sum(axis=1), 1.0)


def test_the_model_only_predicts_known_labels(mlci_model, mlci_data):
    known = set(mlci_data[TARGET].unique())
    assert set(np.asarray(mlci_model.predict(features(mlci_data)))) <= known
"""

_TEST_REGRESSION = """

def test_predictions_are_finite(mlci_model, mlci_data):
    assert np.isfinite(np.asarray(mlci_model.predict(features(mlci_data)), dtype=float)).all()
"""

PRE_COMMIT_CONFIG = """\
# pre-commit hooks written by `mlci init`; install them once with `pre-commit install`.
# Local hooks run the commands pytest-mlci installs, so they use the project's environment.
repos:
  - repo: local
    hooks:
      - id: check-ml-code
        name: static ML checks (leakage, nondeterminism, hard-coded values)
        entry: check-ml-code
        language: system
        types_or: [python, jupyter]
      - id: check-data-schema
        name: data schema of staged dataset files
        entry: check-data-schema
        language: system
        files: \\.(csv|tsv|parquet|pq)$
"""

GITHUB_WORKFLOW = """\
# CI for pytest-mlci, written by `mlci init`.
# Checks and tests run on every push and pull request; `mlci run` (train, evaluate, register,
# stage, promote) runs on the main branch only, against the team's registry. Store its URI
# (e.g. http://mlflow.internal:5000) as the repository secret MLCI_REGISTRY: pytest-mlci
# reads the environment variable MLCI_REGISTRY in place of the `registry` config key. With
# several runners, also store the PostgreSQL URL of the audit ledger and promotion lock as
# MLCI_DATABASE (README, "Team setup"); left unset, they are files on the runner.
name: mlci

on:
  push:
    branches: [main]
  pull_request:

permissions:
  contents: read

env:
  PIP_DISABLE_PIP_VERSION_CHECK: "1"

jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "@@PYTHON@@"
      - name: Install
        run: |
          python -m pip install pytest-mlci pre-commit
          if [ -f requirements.txt ]; then python -m pip install -r requirements.txt; fi
      - name: pre-commit
        run: pre-commit run --all-files --show-diff-on-failure

  test:
    needs: check
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "@@PYTHON@@"
      - name: Install
        run: |
          python -m pip install pytest-mlci
          if [ -f requirements.txt ]; then python -m pip install -r requirements.txt; fi
      - name: Reproduce the pipeline (or `dvc pull` if a DVC remote holds the outputs)
        run: dvc repro
      - name: pytest --mlci
        run: pytest --mlci

  deliver:
    needs: test
    if: github.ref == 'refs/heads/main'
    runs-on: ubuntu-latest
    # One promotion at a time per repository; a queued run waits instead of being cancelled.
    concurrency:
      group: mlci-deliver
      cancel-in-progress: false
    env:
      MLCI_REGISTRY: ${{ secrets.MLCI_REGISTRY }}
      MLCI_DATABASE: ${{ secrets.MLCI_DATABASE }}
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "@@PYTHON@@"
      - name: Install
        run: |
          python -m pip install 'pytest-mlci[team]'
          if [ -f requirements.txt ]; then python -m pip install -r requirements.txt; fi
      - name: mlci run
        run: mlci run
"""

GITLAB_CI = """\
# CI for pytest-mlci, written by `mlci init`.
# Checks and tests run for merge requests and branches; `mlci run` runs on main only.
# Add the registry URI (e.g. http://mlflow.internal:5000) as a masked, protected CI/CD
# variable named MLCI_REGISTRY (Settings > CI/CD > Variables): GitLab exports it to the job
# and pytest-mlci reads it in place of the `registry` config key. With several runners, add
# the PostgreSQL URL of the audit ledger and promotion lock as MLCI_DATABASE the same way.
stages:
  - check
  - test
  - deliver

workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS
      when: never
    - if: $CI_COMMIT_BRANCH

default:
  image: python:@@PYTHON@@
  before_script:
    - python -m pip install pytest-mlci pre-commit
    - if [ -f requirements.txt ]; then python -m pip install -r requirements.txt; fi

variables:
  PIP_CACHE_DIR: "$CI_PROJECT_DIR/.cache/pip"
  PRE_COMMIT_HOME: "$CI_PROJECT_DIR/.cache/pre-commit"

cache:
  key: mlci
  paths:
    - .cache/pip
    - .cache/pre-commit

pre-commit:
  stage: check
  script:
    - pre-commit run --all-files --show-diff-on-failure

pytest:
  stage: test
  script:
    - dvc repro
    - pytest --mlci

mlci-run:
  stage: deliver
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
  # One promotion at a time: jobs in the same resource group never overlap.
  resource_group: mlci-production
  script:
    - python -m pip install 'pytest-mlci[team]'
    - mlci run
"""

JENKINSFILE = """\
// CI for pytest-mlci, written by `mlci init`.
// Checks and tests run on every branch; `mlci run` runs on main only. Add the registry URI
// (e.g. http://mlflow.internal:5000) as a "Secret text" credential with the id
// 'mlci-registry': it is bound to MLCI_REGISTRY, which pytest-mlci reads in place of the
// `registry` config key.
pipeline {
    agent any
    options {
        disableConcurrentBuilds()
    }
    stages {
        stage('Install') {
            steps {
                sh '''
                    python3 -m venv .venv
                    . .venv/bin/activate
                    python -m pip install pytest-mlci pre-commit
                    if [ -f requirements.txt ]; then python -m pip install -r requirements.txt; fi
                '''
            }
        }
        stage('Check') {
            steps {
                // Activated so that pre-commit's local hooks find check-ml-code on PATH.
                sh '. .venv/bin/activate && pre-commit run --all-files --show-diff-on-failure'
            }
        }
        stage('Test') {
            steps {
                sh '. .venv/bin/activate && dvc repro'
                sh '. .venv/bin/activate && pytest --mlci'
            }
        }
        stage('Deliver') {
            when { branch 'main' }
            environment {
                MLCI_REGISTRY = credentials('@@JENKINS_CREDENTIAL@@')
            }
            steps {
                sh '. .venv/bin/activate && mlci run'
            }
        }
    }
}
"""


# --------------------------------------------------------------------------- rendering


def _fill(template: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        template = template.replace(f"@@{name}@@", value)
    if "@@" in template:  # a template bug, not a user error
        raise AssertionError(
            f"unfilled placeholder in template: {template[template.find('@@') :][:40]}"
        )
    return template


def render(options: ScaffoldOptions) -> dict[str, str]:
    """Every file to write, relative path -> text, in the order they are reported."""
    if options.task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {options.task!r}")
    unknown = sorted(set(options.ci) - set(CI_FILES))
    if unknown:
        raise ValueError(f"unknown CI system {unknown[0]!r}; choose from {sorted(CI_FILES)}")
    metric, floor, metrics = _GATES[options.task]
    # json.dumps gives a valid TOML basic string for any input (quotes, backslashes, unicode).
    values = {
        "MODEL": json.dumps(options.model),
        "TASK": json.dumps(options.task),
        "TASK_NAME": options.task,
        "TARGET": json.dumps(options.target),
        "TARGET_PY": repr(options.target),
        "ARTIFACT": ARTIFACT,
        "METRIC": metric,
        "FLOOR": floor,
        "METRICS": metrics,
        "PYTHON": PYTHON_VERSION,
        "JENKINS_CREDENTIAL": JENKINS_CREDENTIAL,
    }
    body = _TEST_REGRESSION if options.task == "regression" else _TEST_CLASSIFICATION
    files = {
        "mlci.toml": MLCI_TOML,
        "dvc.yaml": DVC_YAML,
        "tests/test_model_gates.py": _TEST_HEADER + body,
        ".pre-commit-config.yaml": PRE_COMMIT_CONFIG,
    }
    ci_templates = {"github": GITHUB_WORKFLOW, "gitlab": GITLAB_CI, "jenkins": JENKINSFILE}
    for system in CI_FILES:
        if system in options.ci:
            files[CI_FILES[system]] = ci_templates[system]
    return {path: _fill(text, values) for path, text in files.items()}


def existing(root: Path, paths: Iterable[str]) -> list[str]:
    """Which of ``paths`` already exist under ``root`` (these would be overwritten)."""
    return [path for path in paths if (root / path).exists()]


def write(root: Path, files: Mapping[str, str], *, force: bool = False) -> list[Path]:
    """Write ``files`` under ``root``; all or nothing when some already exist and not ``force``.

    The check runs before the first write so a refusal leaves the directory untouched.
    """
    if not force:
        clashes = existing(root, files)
        if clashes:
            raise ExistingFiles(clashes)
    written = []
    for relative, text in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written
