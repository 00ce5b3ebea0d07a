"""The files ``mlci init`` writes: templates and the writer that refuses to clobber.

Why templates live here as string constants rather than files under ``templates/``: they
ship inside the module with no package-data setup, ``mlci init --help`` imports nothing but
this module, and a test can render them without touching the filesystem.

Why placeholders are ``@@NAME@@`` and not ``str.format`` or ``string.Template``: the CI
files are full of ``${{ ... }}`` and ``$VAR`` that must reach the CI system untouched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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

# The first gates, before anything was measured: a floor any model with skill clears (a
# constant predictor scores exactly it), and "not worse than production". No number that
# depends on the data: the real floors come from the first measured run (`mlci gates
# --suggest`). metric -> (floor or None, why, the other metrics of the task)
_GATES = {
    "binary_classification": (
        "roc_auc",
        ">= 0.5",
        "0.5 is chance",
        "accuracy, precision, recall, f1, roc_auc, log_loss, brier_score",
    ),
    "multiclass": (
        "f1",
        None,
        "chance depends on the class shares, so no floor before a measured run",
        "accuracy, precision, recall, f1 (macro averages)",
    ),
    "regression": (
        "r2",
        ">= 0.0",
        "0.0 is predicting the mean",
        "mae, rmse, r2, mape",
    ),
}
DEFAULT_EVAL = "data/eval.parquet"


#: Every file ``mlci init`` writes says so in its first line; such files are its own to rewrite
#: (--force), while anything else is the project's and never touched.
MARKER = "`mlci init`"


def written_by_init(path: Path) -> bool:
    """Whether ``path`` is a file ``mlci init`` wrote: its first line carries the marker (a
    config table init appended to the user's pyproject.toml does not make the file ours)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return MARKER in handle.readline(400)
    except OSError:
        return False


@dataclass(frozen=True)
class ScaffoldOptions:
    """What the user told ``mlci init``; everything else is a documented default."""

    model: str
    task: str
    target: str
    ci: tuple[str, ...] = tuple(CI_FILES)
    artifact: str = ARTIFACT
    eval_path: str = DEFAULT_EVAL
    allow_pickle: bool = False  # the artifact is a pickle the project's own pipeline writes
    mlflow_model: str | None = None  # the training script logs its model to MLflow
    config_in_pyproject: bool = False  # [tool.mlci] appended to pyproject.toml, not mlci.toml
    dvc_stub: bool = True  # False: the project has its own dvc.yaml (or one from MLproject)
    gpu_runner: str | None = None  # the CI runner label training and evaluation jobs run on


# --------------------------------------------------------------------------- templates

MLCI_TOML = """\
# pytest-mlci configuration, written by `mlci init`. Every key is documented in the README
# ("Configuration"). The same keys may live under [tool.mlci] in pyproject.toml instead;
# mlci.toml wins when both exist.
@@HEADER@@
model = @@MODEL@@          # the registered model name in MLflow
task = @@TASK@@
target = @@TARGET@@        # the label column
artifact = @@ARTIFACT_TOML@@   # @@ARTIFACT_WHY@@
@@TOP_EXTRA@@
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
@@TRAINING@@
[@@T@@datasets.eval]
path = @@EVAL_TOML@@   # @@EVAL_WHY@@
# schema = "data/eval.schema.yaml"      # a pandera YAML schema or "module:Object"
# reference = "data/train.parquet"      # switches on volume, quality and drift checks
# protected = ["gender"]                # columns for fairness metrics

[@@T@@gates]
# "<op> <number>" is an absolute floor; "baseline" is the production model, compared on the
# same rows with a paired bootstrap. Metrics for @@TASK_NAME@@: @@METRICS@@.
# These first gates assume nothing about your data (@@FLOOR_WHY@@). After the first
# `mlci run --until evaluate`, `mlci gates --suggest` proposes floors from what it measured.
@@METRIC@@ = @@GATE_VALUE@@

# [@@T@@static]
# paths = ["src"]                       # what the static ML rules (check-ml-code) look at

# [@@T@@evaluation]
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


def predictions_forward_and_backward(model, data):
    """Predictions for 200 rows, and for the same rows in reverse order (put back in order)."""
    rows = features(data).head(200)
    forward = np.asarray(model.predict(rows))
    backward = np.asarray(model.predict(rows.iloc[::-1]))[::-1]
    return forward, backward
'''

_TEST_CLASSIFICATION = """

def test_predictions_do_not_depend_on_row_order(mlci_model, mlci_data):
    forward, backward = predictions_forward_and_backward(mlci_model, mlci_data)
    assert (forward == backward).all()  # labels: exactly equal

def test_probabilities_are_valid(mlci_model, mlci_data):
    probabilities = np.asarray(mlci_model.predict_proba(features(mlci_data).head(200)))
    assert np.isfinite(probabilities).all()
    assert np.allclose(probabilities.sum(axis=1), 1.0)


def test_the_model_only_predicts_known_labels(mlci_model, mlci_data):
    known = set(mlci_data[TARGET].unique())
    assert set(np.asarray(mlci_model.predict(features(mlci_data)))) <= known
"""

_TEST_REGRESSION = """

def test_predictions_do_not_depend_on_row_order(mlci_model, mlci_data):
    forward, backward = predictions_forward_and_backward(mlci_model, mlci_data)
    # Floats: summation order may differ in the last bits (8.9e-16 is not a change).
    np.testing.assert_allclose(forward, backward, rtol=1e-9, atol=1e-9)

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
        files: (\\.(csv|tsv|jsonl|ndjson|parquet|pq|dvc)|(^|/)dvc\\.lock)$
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
  # `mlci monitor` once a day: exits 1 (a red run) when production's served features drifted
  # or its live accuracy fell, i.e. when retraining is due, not on a fixed schedule.
  schedule:
    - cron: "17 5 * * *"

permissions:
  contents: read

env:
  PIP_DISABLE_PIP_VERSION_CHECK: "1"

jobs:
  check:
    if: github.event_name != 'schedule'
    runs-on: ubuntu-latest
    timeout-minutes: 20
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
    runs-on: @@TRAIN_RUNNER@@
    # training and evaluation take hours on real data; GitHub's default is 6 h
    timeout-minutes: 360
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
    runs-on: @@TRAIN_RUNNER@@
    timeout-minutes: 360
    # One promotion at a time per repository; a queued run waits instead of being cancelled.
    concurrency:
      group: mlci-deliver
      cancel-in-progress: false
    env:
      MLCI_REGISTRY: ${{ secrets.MLCI_REGISTRY }}
      MLCI_DATABASE: ${{ secrets.MLCI_DATABASE }}
    steps:
      - uses: actions/checkout@v4
        with:
          # the history `mlci run` compares with, so that with many models it runs only those
          # a push changed (without it every model runs)
          fetch-depth: 0
      - uses: actions/setup-python@v5
        with:
          python-version: "@@PYTHON@@"
      - name: Install
        run: |
          python -m pip install 'pytest-mlci[team]'
          if [ -f requirements.txt ]; then python -m pip install -r requirements.txt; fi
      - name: mlci run
        run: mlci run

  monitor:
    if: github.event_name == 'schedule'
    runs-on: ubuntu-latest
    timeout-minutes: 60
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
      # EDIT: fetch the router's logs first (requests.jsonl and feedback.jsonl from where
      # `mlci serve` runs, e.g. your log bucket), then point --log/--feedback at them.
      - name: mlci monitor
        run: mlci monitor --window 24
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
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
      when: never
    - when: on_success
  timeout: 20m
  script:
    - pre-commit run --all-files --show-diff-on-failure

pytest:
  stage: test
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
      when: never
    - when: on_success
  # training and evaluation take hours on real data
  timeout: 6h@@GITLAB_TAGS@@
  script:
    - dvc repro
    - pytest --mlci

mlci-run:
  stage: deliver
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
      when: never
    - if: $CI_COMMIT_BRANCH == "main"
  # One promotion at a time: jobs in the same resource group never overlap.
  resource_group: mlci-production
  timeout: 6h@@GITLAB_TAGS@@
  variables:
    GIT_DEPTH: 0  # the history `mlci run` compares with: with many models, only changed ones run
  script:
    - python -m pip install 'pytest-mlci[team]'
    - mlci run

# `mlci monitor` in a scheduled pipeline (Build > Pipeline schedules, e.g. daily): exits 1
# when production's served features drifted or its live accuracy fell (retraining is due).
mlci-monitor:
  stage: test
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
  timeout: 1h
  script:
    - python -m pip install 'pytest-mlci[team]'
    # EDIT: fetch the router's requests.jsonl and feedback.jsonl first, then pass --log/--feedback
    - mlci monitor --window 24
"""

JENKINSFILE = """\
// CI for pytest-mlci, written by `mlci init`.
// Checks and tests run on every branch; `mlci run` runs on main only. Add the registry URI
// (e.g. http://mlflow.internal:5000) as a "Secret text" credential with the id
// 'mlci-registry': it is bound to MLCI_REGISTRY, which pytest-mlci reads in place of the
// `registry` config key.
pipeline {
    agent @@JENKINS_AGENT@@
    options {
        disableConcurrentBuilds()
        // training and evaluation take hours on real data
        timeout(time: 6, unit: 'HOURS')
    }
    // Once a day `mlci monitor` (the Monitor stage): exits 1 when retraining is due.
    triggers {
        cron('H 5 * * *')
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
            when { not { triggeredBy 'TimerTrigger' } }
            steps {
                // Activated so that pre-commit's local hooks find check-ml-code on PATH.
                sh '. .venv/bin/activate && pre-commit run --all-files --show-diff-on-failure'
            }
        }
        stage('Test') {
            when { not { triggeredBy 'TimerTrigger' } }
            steps {
                sh '. .venv/bin/activate && dvc repro'
                sh '. .venv/bin/activate && pytest --mlci'
            }
        }
        stage('Deliver') {
            when {
                branch 'main'
                not { triggeredBy 'TimerTrigger' }
            }
            environment {
                MLCI_REGISTRY = credentials('@@JENKINS_CREDENTIAL@@')
            }
            steps {
                sh '. .venv/bin/activate && mlci run'
            }
        }
        stage('Monitor') {
            when { triggeredBy 'TimerTrigger' }
            environment {
                MLCI_REGISTRY = credentials('@@JENKINS_CREDENTIAL@@')
            }
            steps {
                // EDIT: fetch the router's requests.jsonl and feedback.jsonl first, then
                // pass --log/--feedback to mlci monitor.
                sh '. .venv/bin/activate && mlci monitor --window 24'
            }
        }
    }
}
"""


# Jobs to paste into a CI file the project already has (`mlci init` never edits it).
GITHUB_JOB = """\
  # pytest-mlci (from `mlci init`): paste under `jobs:`. Checks and `pytest --mlci` on every
  # run; `mlci run` (train, evaluate, register, stage, promote) on main only. Set the
  # repository secret MLCI_REGISTRY to the team's MLflow URI (and MLCI_DATABASE with several
  # runners); left unset, the registry is a file on the runner.
  mlci:
    runs-on: @@TRAIN_RUNNER@@
    timeout-minutes: 360
    concurrency:
      group: mlci-${{ github.ref }}
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
          python -m pip install 'pytest-mlci[hooks,team]'
          if [ -f requirements.txt ]; then python -m pip install -r requirements.txt; fi
      - name: pre-commit
        run: pre-commit run --all-files --show-diff-on-failure
      - name: pytest --mlci
        if: github.ref != 'refs/heads/main'
        run: |
          dvc repro
          pytest --mlci
      - name: mlci run
        if: github.ref == 'refs/heads/main'
        run: mlci run
"""

GITLAB_JOB = """\
# pytest-mlci (from `mlci init`): paste at the top level. Add the masked, protected CI/CD
# variable MLCI_REGISTRY (the team's MLflow URI; MLCI_DATABASE with several runners).
mlci-check:
  image: python:@@PYTHON@@
  script:
    - python -m pip install 'pytest-mlci[hooks]'
    - if [ -f requirements.txt ]; then python -m pip install -r requirements.txt; fi
    - pre-commit run --all-files --show-diff-on-failure
    - dvc repro
    - pytest --mlci

mlci-run:
  image: python:@@PYTHON@@
  needs: [mlci-check]
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
  resource_group: mlci-production
  script:
    - python -m pip install 'pytest-mlci[team]'
    - if [ -f requirements.txt ]; then python -m pip install -r requirements.txt; fi
    - mlci run
"""

JENKINS_STAGE = """\
        // pytest-mlci (from `mlci init`): paste inside `stages { }`; the secret-text
        // credential '@@JENKINS_CREDENTIAL@@' holds the team's MLflow URI.
        stage('mlci') {
            environment {
                MLCI_REGISTRY = credentials('@@JENKINS_CREDENTIAL@@')
            }
            steps {
                sh 'python -m pip install "pytest-mlci[hooks]" && pre-commit run --all-files'
                sh 'dvc repro && pytest --mlci'
                script {
                    if (env.BRANCH_NAME == 'main') {
                        sh 'mlci run'
                    }
                }
            }
        }
"""

PRE_COMMIT_HOOKS = """\
  # pytest-mlci (from `mlci init`): paste under `repos:` in .pre-commit-config.yaml
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
        files: (\\.(csv|tsv|jsonl|ndjson|parquet|pq|dvc)|(^|/)dvc\\.lock)$
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
    """Every file to write, relative path -> text, in the order they are reported.

    With ``config_in_pyproject`` the config is the ``[tool.mlci]`` block to append to
    ``pyproject.toml`` (key ``pyproject.toml``), else the whole ``mlci.toml``.
    """
    if options.task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {options.task!r}")
    unknown = sorted(set(options.ci) - set(CI_FILES))
    if unknown:
        raise ValueError(f"unknown CI system {unknown[0]!r}; choose from {sorted(CI_FILES)}")
    values = _values(options)
    body = _TEST_REGRESSION if options.task == "regression" else _TEST_CLASSIFICATION
    config_file = "pyproject.toml" if options.config_in_pyproject else "mlci.toml"
    files = {config_file: MLCI_TOML}
    if options.dvc_stub:
        files["dvc.yaml"] = DVC_YAML
    files["tests/test_model_gates.py"] = _TEST_HEADER + body
    files[".pre-commit-config.yaml"] = PRE_COMMIT_CONFIG
    ci_templates = {"github": GITHUB_WORKFLOW, "gitlab": GITLAB_CI, "jenkins": JENKINSFILE}
    for system in CI_FILES:
        if system in options.ci:
            files[CI_FILES[system]] = ci_templates[system]
    rendered = {path: _fill(text, values) for path, text in files.items()}
    if options.config_in_pyproject:  # the leading comment is about mlci.toml
        text = rendered["pyproject.toml"]
        rendered["pyproject.toml"] = text[text.index("\n[tool.mlci]\n") + 1 :]
    return rendered


def snippets(options: ScaffoldOptions) -> dict[str, str]:
    """What to paste into a file the project already has: CI system or "pre-commit" -> text."""
    values = _values(options)
    jobs = {"github": GITHUB_JOB, "gitlab": GITLAB_JOB, "jenkins": JENKINS_STAGE}
    found = {system: _fill(text, values) for system, text in jobs.items()}
    found["pre-commit"] = _fill(PRE_COMMIT_HOOKS, values)
    return found


def _values(options: ScaffoldOptions) -> dict[str, str]:
    metric, floor, floor_why, metrics = _GATES[options.task]
    gates = [">= baseline - 0.01"] if floor is None else [floor, ">= baseline - 0.01"]
    top_extra = ""
    if options.allow_pickle:
        top_extra += (
            "# The artifact is a pickle (or an MLflow model saved with one): loading it runs\n"
            "# code from the file. Only allow it because your own pipeline writes it.\n"
            "allow_pickle = true\n"
        )
    training = ""
    if options.mlflow_model:
        training = (
            "\n[@@T@@training]\n"
            "# The training script logs its model to MLflow under this name (the `name=` of its\n"
            '# log_model call, "model" for autolog); mlci materialises it at `artifact`.\n'
            f"mlflow_model = {json.dumps(options.mlflow_model)}\n"
        )
    table = "tool.mlci." if options.config_in_pyproject else ""
    artifact_why = (
        "the MLflow model the training script logs, downloaded here (keep it out of git)"
        if options.mlflow_model
        else "the model file `dvc repro` produces"
    )
    eval_why = (
        "EDIT: the data gates are computed on (`dvc repro` makes it)"
        if options.eval_path == DEFAULT_EVAL
        else "the data the gates are computed on"
    )
    # json.dumps gives a valid TOML basic string for any input (quotes, backslashes, unicode).
    return {
        "HEADER": "\n[tool.mlci]" if options.config_in_pyproject else "",
        "TOP_EXTRA": top_extra.replace("@@T@@", table),
        "TRAINING": training.replace("@@T@@", table),
        "T": table,
        "MODEL": json.dumps(options.model),
        "TASK": json.dumps(options.task),
        "TASK_NAME": options.task,
        "TARGET": json.dumps(options.target),
        "TARGET_PY": repr(options.target),
        "ARTIFACT": options.artifact,
        "ARTIFACT_TOML": json.dumps(options.artifact),
        "ARTIFACT_WHY": artifact_why,
        "EVAL_TOML": json.dumps(options.eval_path),
        "EVAL_WHY": eval_why,
        "METRIC": metric,
        "GATE_VALUE": json.dumps(gates[0]) if len(gates) == 1 else json.dumps(gates),
        "FLOOR_WHY": floor_why,
        "METRICS": metrics,
        "PYTHON": PYTHON_VERSION,
        "JENKINS_CREDENTIAL": JENKINS_CREDENTIAL,
        **_runner_values(options.gpu_runner),
    }


def _runner_values(label: str | None) -> dict[str, str]:
    """Where the training and evaluation jobs run: a GPU runner's label, else the default."""
    if label is None:
        return {"TRAIN_RUNNER": "ubuntu-latest", "GITLAB_TAGS": "", "JENKINS_AGENT": "any"}
    quoted = json.dumps(label)
    return {
        "TRAIN_RUNNER": f"[self-hosted, {quoted}]",
        "GITLAB_TAGS": f"\n  tags: [{quoted}]",
        "JENKINS_AGENT": "{ label " + "'" + label.replace("'", "") + "'" + " }",
    }


def write(root: Path, files: Mapping[str, str], *, force: bool = False) -> tuple[list, list]:
    """Write the files of ``files`` that do not exist yet; with ``force``, also rewrite the
    ones an earlier ``mlci init`` wrote (they carry :data:`MARKER`).

    Returns (written, kept) as relative paths: the user's own files are never replaced.
    """
    written, kept = [], []
    for relative, text in files.items():
        target = root / relative
        if target.exists() and not (force and written_by_init(target)):
            kept.append(relative)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(relative)
    return written, kept
