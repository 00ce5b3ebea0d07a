"""`mlci init` in a project that already has its own files: keep them, read them, add the rest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlci_local.adopt import from_dvc_yaml
from mlci_local.cli import cli
from pytest_mlci.config import load_config

PYPROJECT = """\
[project]
name = "churn"
version = "0.1.0"

[tool.ruff]
line-length = 90
"""

DVC_YAML = """\
stages:
  prepare:
    cmd: python src/prepare.py
    deps: [src/prepare.py, data/raw.csv]
    outs: [data/train.csv, data/test.csv]
  train:
    cmd: python src/train.py
    deps: [src/train.py, data/train.csv]
    outs:
      - models/model.pkl
  evaluate:
    cmd: python src/evaluate.py
    deps: [src/evaluate.py, models/model.pkl, data/test.csv]
    metrics:
      - eval.json:
          cache: false
"""

WORKFLOW = """\
name: ci
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: make test
"""


def init(*args: str):
    return CliRunner().invoke(cli, ["init", *args], catch_exceptions=False)


def files(root: Path, tree: dict[str, str]) -> Path:
    for name, text in tree.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def dvc_project(tmp_path: Path) -> Path:
    """A project with its own pyproject.toml, dvc.yaml, GitHub workflow and .gitignore."""
    return files(
        tmp_path / "churn",
        {
            "pyproject.toml": PYPROJECT,
            "dvc.yaml": DVC_YAML,
            ".github/workflows/ci.yml": WORKFLOW,
            ".gitignore": "__pycache__/\n/venv",  # no newline at the end
        },
    )


def test_its_own_files_are_kept_byte_for_byte_and_the_config_is_appended(dvc_project):
    before = {p: (dvc_project / p).read_bytes() for p in ("dvc.yaml", ".github/workflows/ci.yml")}
    mode = (dvc_project / "pyproject.toml").stat().st_mode & 0o777

    result = init(str(dvc_project), "--target", "churned")

    assert result.exit_code == 0, result.output
    for path, content in before.items():
        assert (dvc_project / path).read_bytes() == content, path
        assert f"kept {path} (yours)" in result.output
    pyproject = (dvc_project / "pyproject.toml").read_text()
    assert pyproject.startswith(PYPROJECT), "the rest of pyproject.toml is untouched"
    assert (dvc_project / "pyproject.toml").stat().st_mode & 0o777 == mode
    assert "appended pyproject.toml: [tool.mlci]" in result.output
    assert not (dvc_project / "mlci.toml").exists()
    assert not (dvc_project / ".github/workflows/mlci.yml").exists()
    assert not (dvc_project / ".gitlab-ci.yml").exists()
    assert not (dvc_project / "Jenkinsfile").exists()
    assert (dvc_project / "tests/test_model_gates.py").is_file()
    assert (dvc_project / ".pre-commit-config.yaml").is_file()


def test_artifact_and_evaluation_data_are_read_from_dvc_yaml(dvc_project):
    result = init(str(dvc_project), "--target", "churned")

    config = load_config(dvc_project / "pyproject.toml")
    assert config.artifact == dvc_project / "models/model.pkl"
    assert config.eval_dataset.path == dvc_project / "data/test.csv"
    assert config.allow_pickle is True
    assert config.target == "churned"
    assert "proposed artifact = 'models/model.pkl' (from dvc.yaml stage 'train' outs)" in (
        result.output
    )
    assert "proposed datasets.eval.path = 'data/test.csv' (from dvc.yaml stage 'prepare' outs)" in (
        result.output
    )
    assert "models/model.pkl is a pickle" in result.output


def test_mlci_is_git_ignored_once(dvc_project):
    first = init(str(dvc_project))
    assert "appended .gitignore: /.mlci/" in first.output
    assert (dvc_project / ".gitignore").read_text().splitlines()[-2:] == [
        "# pytest-mlci (mlci init)",
        "/.mlci/",
    ]
    assert (dvc_project / ".gitignore").read_text().startswith("__pycache__/\n/venv\n")
    again = init(str(dvc_project))
    assert ".gitignore" not in again.output
    assert (dvc_project / ".gitignore").read_text().count(".mlci") == 1


def test_an_existing_ignore_rule_for_mlci_is_recognised_by_git(tmp_path):
    root = files(tmp_path / "p", {".gitignore": ".ml*/\n", "dvc.yaml": DVC_YAML})
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    result = init(str(root))
    assert result.exit_code == 0, result.output
    assert (root / ".gitignore").read_text() == ".ml*/\n"


def test_a_second_init_keeps_the_appended_config_and_appends_nothing(dvc_project):
    init(str(dvc_project))
    first = (dvc_project / "pyproject.toml").read_text()
    again = init(str(dvc_project), "--force")
    assert again.exit_code == 0, again.output
    assert (dvc_project / "pyproject.toml").read_text() == first
    assert first.count("[tool.mlci]") == 1
    assert "kept pyproject.toml (yours)" in again.output
    assert not (dvc_project / "mlci.toml").exists(), "--force must not shadow pyproject's config"


def test_the_ci_job_is_printed_ready_to_paste_into_the_existing_workflow(dvc_project):
    result = init(str(dvc_project))

    assert "add this under `jobs:` in .github/workflows/ci.yml:" in result.output
    snippet = result.output.split("add this under `jobs:` in .github/workflows/ci.yml:\n\n")[1]
    snippet = snippet.split("\nnext:")[0]
    workflow = dvc_project / ".github/workflows/ci.yml"
    merged = yaml.safe_load(workflow.read_text() + snippet)
    assert list(merged["jobs"]) == ["test", "mlci"]
    runs = [step.get("run", "") for step in merged["jobs"]["mlci"]["steps"]]
    assert any("mlci run" in run for run in runs)
    assert any("pytest --mlci" in run for run in runs)
    assert any("pre-commit run --all-files" in run for run in runs)
    assert merged["jobs"]["mlci"]["env"]["MLCI_REGISTRY"] == "${{ secrets.MLCI_REGISTRY }}"
    assert "paste the snippets printed above where they say" in result.output
    pasted = dvc_project / "pasted.yml"
    pasted.write_text(workflow.read_text() + snippet)
    checker = Path(sys.executable).parent / "check-jsonschema"
    if not checker.exists():
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", str(pasted)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_github_schema_check_above_can_fail(tmp_path):
    """The schema check is not vacuous: a job without runs-on or steps is refused."""
    checker = Path(sys.executable).parent / "check-jsonschema"
    if not checker.exists():
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW + "  mlci:\n    stepz: []\n")
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0


def test_the_gitlab_job_pasted_into_an_existing_file_passes_gitlabs_schema(tmp_path):
    existing = "stages: [test]\nunit:\n  stage: test\n  script: [make test]\n"
    root = files(tmp_path / "p", {".gitlab-ci.yml": existing, "dvc.yaml": DVC_YAML})
    result = init(str(root))
    assert (root / ".gitlab-ci.yml").read_text() == existing
    assert "add this at the top level of .gitlab-ci.yml:" in result.output
    snippet = result.output.split("add this at the top level of .gitlab-ci.yml:\n\n")[1]
    merged = root / "merged.yml"
    merged.write_text(existing + "\n" + snippet.split("\nnext:")[0])
    document = yaml.safe_load(merged.read_text())
    assert document["mlci-run"]["rules"] == [{"if": '$CI_COMMIT_BRANCH == "main"'}]
    checker = Path(sys.executable).parent / "check-jsonschema"
    if not checker.exists():
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.gitlab-ci", str(merged)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_existing_pre_commit_config_is_kept_and_the_hooks_are_printed(dvc_project):
    own = "repos:\n  - repo: https://github.com/astral-sh/ruff-pre-commit\n    rev: v0.6.0\n"
    own += "    hooks:\n      - id: ruff\n"
    (dvc_project / ".pre-commit-config.yaml").write_text(own)

    result = init(str(dvc_project))

    assert (dvc_project / ".pre-commit-config.yaml").read_text() == own
    marker = "add this under `repos:` in .pre-commit-config.yaml:\n\n"
    assert marker in result.output
    snippet = result.output.split(marker)[1].split("\nadd this")[0].split("\nnext:")[0]
    merged = dvc_project / "merged-pre-commit.yaml"
    merged.write_text(own + snippet)
    from pre_commit.clientlib import load_config as load_pre_commit

    hooks = [h["id"] for repo in load_pre_commit(str(merged))["repos"] for h in repo["hooks"]]
    assert hooks == ["ruff", "check-ml-code", "check-data-schema"]


def test_a_pyproject_that_is_not_toml_stops_init_before_anything_is_written(tmp_path):
    root = files(tmp_path / "p", {"pyproject.toml": "[project\nname = 1\n"})
    result = init(str(root))
    assert result.exit_code == 2
    assert "error: pyproject.toml: not valid TOML" in result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in root.iterdir()) == ["pyproject.toml"]


def test_a_pyproject_with_a_tool_table_inline_cannot_take_the_appended_table(tmp_path):
    """`tool = {...}` inline cannot be extended by a [tool.mlci] header: refused, unchanged."""
    root = files(tmp_path / "p", {"pyproject.toml": 'tool = {a = 1}\n\n[project]\nname = "x"\n'})
    text = (root / "pyproject.toml").read_text()
    result = init(str(root))
    assert result.exit_code == 2, result.output
    assert "appending [tool.mlci] would make it invalid TOML" in result.output
    assert (root / "pyproject.toml").read_text() == text
    assert not (root / "tests").exists()


def test_without_a_test_split_in_dvc_yaml_the_next_steps_say_to_set_one(tmp_path):
    root = files(
        tmp_path / "p",
        {"dvc.yaml": "stages:\n  train:\n    cmd: python train.py\n    outs: [model.joblib]\n"},
    )
    result = init(str(root))
    assert result.exit_code == 0, result.output
    assert "set datasets.eval.path (now 'data/eval.parquet') to your evaluation split" in (
        result.output
    )
    assert load_config(root / "mlci.toml").artifact == root / "model.joblib"


def test_dvc_yaml_proposals(tmp_path):
    root = files(
        tmp_path / "p",
        {
            "dvc.yaml": """\
stages:
  featurize:
    cmd: python featurize.py
    outs: [data/features]
  fit:
    cmd: python fit.py
    deps: [data/features/train.parquet]
    outs: [metrics.json, out/booster.ubj]
  score:
    cmd: python score.py ${x}
    deps: [out/booster.ubj, data/features/holdout.parquet, data/features/train.parquet]
    metrics: [scores.json]
""",
            "data/features/train.parquet": "",
            "data/features/holdout.parquet": "",
        },
    )
    artifact, data = from_dvc_yaml(root)
    assert artifact is not None and artifact.value == "out/booster.ubj"
    assert data is not None and data.value == "data/features/holdout.parquet"
    assert "metrics.json" not in artifact.value


def test_an_mlflow_model_directory_out_is_the_artifact(tmp_path):
    root = files(
        tmp_path / "p",
        {
            "dvc.yaml": "stages:\n  train:\n    cmd: python t.py\n    outs: [exported, x.txt]\n",
            "exported/MLmodel": "flavors: {}\n",
        },
    )
    artifact, _ = from_dvc_yaml(root)
    assert artifact is not None and artifact.value == "exported"
