"""Issue 14, "errors that name the cause": every failure says what is wrong and what to do.

A gate typo stops `mlci run` before stage 1 (exit 2), whether or not anything is new to train;
a crashed evaluation prints the crash's reason, not a digest mismatch; a dataset that did not
pass says why; a missing model is one line in every item that needs it; `mlci check` says
what it looked at when it found nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlci_local.cli import cli
from pytest_mlci.config import load_config
from pytest_mlci.errors import CheckFailed, ConfigError


def configure(project, old: str, new: str) -> None:
    config = project.root / "pyproject.toml"
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new, 1))


def add_line(project, line: str) -> None:
    """A top-level [tool.mlci] key (written right after the table's header)."""
    configure(project, "[tool.mlci]\n", f"[tool.mlci]\n{line}\n")


@pytest.fixture
def invoke(tiny_dir, monkeypatch):
    monkeypatch.chdir(tiny_dir.root)
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, list(args), catch_exceptions=False)


# ------------------------------------------------------------------ the configuration, first


def test_a_gate_typo_names_the_key_and_the_closest_metric(tiny_dir):
    from mlci_local.preflight import preflight

    tiny_dir.set_gate("roc_acu", ">= 0.7")
    with pytest.raises(ConfigError) as refused:
        preflight(load_config(tiny_dir.root / "pyproject.toml"))
    assert str(refused.value) == (
        "pyproject.toml: key 'gates.roc_acu': unknown metric 'roc_acu' for task "
        "binary_classification; did you mean 'roc_auc'?"
    )


def test_every_configuration_problem_is_listed_at_once(tiny_dir):
    from mlci_local.preflight import problems

    tiny_dir.gates = {"roc_acu": ">= 0.7", "f1": ">= bassline"}
    tiny_dir.write_config()
    add_line(tiny_dir, 'predict = "no_such_module:predict"')
    configure(tiny_dir, 'schema = "tiny_schema:TinySchema"', 'schema = "tiny_schema:Nope"')
    configure(tiny_dir, 'path = "data/test.parquet"', 'path = "data/test.xlsx"')
    (tiny_dir.root / "data" / "test.xlsx").write_bytes(b"not read")
    found = problems(load_config(tiny_dir.root / "pyproject.toml"))
    assert found[0].startswith("key 'gates.roc_acu': unknown metric 'roc_acu'")
    assert found[1].startswith("key 'gates.f1': cannot parse gate f1 '>= bassline'; write e.g.")
    assert found[2].startswith("key 'datasets.eval.path': data/test.xlsx: unknown data format")
    assert found[3] == "key 'datasets.eval.schema': module 'tiny_schema' has no 'Nope'"
    assert found[4].startswith("key 'predict': cannot import 'no_such_module'")
    assert len(found) == 5


def test_a_missing_dataset_names_the_fix(tiny_dir):
    from mlci_local.preflight import problems

    (tiny_dir.root / "data" / "test.parquet").unlink()
    config = load_config(tiny_dir.root / "pyproject.toml")
    assert problems(config) == [
        "key 'datasets.eval.path': data/test.parquet does not exist and no dvc.yaml stage "
        "lists it in its outs; fix the path, or add the stage that writes it"
    ]
    (tiny_dir.root / "data" / "test.parquet.dvc").write_text("outs:\n- path: test.parquet\n")
    assert problems(config) == [
        "key 'datasets.eval.path': data/test.parquet is not here; it is tracked by "
        "data/test.parquet.dvc: run `dvc pull` (or `dvc checkout`)"
    ]
    (tiny_dir.root / "data" / "test.parquet.dvc").unlink()
    (tiny_dir.root / "dvc.yaml").write_text(
        "stages:\n  prepare:\n    cmd: python make.py\n    outs:\n    - data/test.parquet\n"
    )
    assert problems(config) == []  # stage 2 runs `prepare` first


def test_an_unimportable_loader_and_user_metric_are_named(tiny_dir):
    from mlci_local.preflight import problems

    configure(tiny_dir, 'schema = "tiny_schema:TinySchema"', 'loader = "loaders:missing"')
    config_file = tiny_dir.root / "pyproject.toml"
    config_file.write_text(config_file.read_text() + '\n[tool.mlci.metrics]\nmine = "m:nope"\n')
    (tiny_dir.root / "loaders.py").write_text("def read(path):\n    return None\n")
    (tiny_dir.root / "m.py").write_text("")
    assert problems(load_config(config_file)) == [
        "key 'metrics.mine': module 'm' has no 'nope'",
        "key 'datasets.eval.loader': module 'loaders' has no 'missing'",
    ]


def test_a_clean_configuration_has_no_problems(tiny_dir):
    from mlci_local.preflight import preflight, problems

    config = load_config(tiny_dir.root / "pyproject.toml")
    assert problems(config) == []
    preflight(config)  # raises nothing


def test_mlci_run_stops_a_gate_typo_before_stage_1_with_exit_2(tiny_dir):
    from mlci_local.pipeline import Pipeline

    tiny_dir.set_gate("roc_acu", ">= 0.7")
    lines: list[str] = []
    code = Pipeline(load_config(tiny_dir.root / "pyproject.toml"), echo=lines.append).run()
    assert code == 2
    assert lines[0].startswith("configuration") and "FAILED: nothing ran" in lines[0]
    assert "key 'gates.roc_acu'" in lines[1] and "did you mean 'roc_auc'?" in lines[1]
    assert not any(line.startswith("[1/7]") for line in lines)
    summary = json.loads((tiny_dir.root / ".mlci" / "reports" / "last-run.json").read_text())
    assert summary["exit_code"] == 2
    assert [stage["stage"] for stage in summary["stages"]] == ["configuration"]


# ------------------------------------------------------------------ a crashed evaluation


@pytest.mark.slow  # a pytest child process
def test_a_crashed_evaluation_prints_the_crash_not_a_digest_message(tiny_dir):
    from mlci_local.pipeline import Pipeline

    (tiny_dir.root / "crash.py").write_text(
        "def predict(model, X):\n"
        "    raise ValueError(\"could not convert string to float: 'abc'\")\n"
    )
    add_line(tiny_dir, 'predict = "crash:predict"')
    config = load_config(tiny_dir.root / "pyproject.toml")
    with pytest.raises(CheckFailed) as refused:
        Pipeline(config, echo=lambda line: None).stage_evaluate()
    message = str(refused.value)
    assert message.splitlines() == [
        "the evaluation crashed; nothing is registered:",
        f"mlci::gate::roc_auc >= 0.7: the model failed to predict on {config.eval_dataset.path}: "
        "ValueError: could not convert string to float: 'abc'",
    ]
    assert "different artifact" not in message


def test_the_status_item_names_each_crash_and_its_reason(pytester, tiny_project):
    (pytester.path / "crash.py").write_text(
        "def predict(model, X):\n    raise ValueError('boom')\n"
    )
    add_line(tiny_project, 'predict = "crash:predict"')
    result = pytester.runpytest("--mlci", "-p", "no:cacheprovider", "--mlci-report-json=r.json")
    result.stdout.fnmatch_lines(
        [
            "*_ mlci evaluation _*",
            "the evaluation crashed; no verdict:",
            "  mlci::gate::roc_auc >= 0.7: the model failed to predict on *: ValueError: boom",
        ]
    )
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["crash_reasons"] == {
        "mlci::gate::roc_auc >= 0.7": report["crash_reasons"]["mlci::gate::roc_auc >= 0.7"]
    }
    assert report["crash_reasons"]["mlci::gate::roc_auc >= 0.7"].endswith("ValueError: boom")


# ------------------------------------------------------------------ a missing model


MISSING = (
    "models/model.skops: model artifact not found; run `dvc repro` (or fix 'artifact' in config)"
)


def test_before_any_training_every_item_that_needs_the_model_says_so_in_one_line(
    pytester, tiny_project
):
    (pytester.path / "models" / "model.skops").unlink()
    tiny_project.gates = {"roc_auc": ">= 0.7", "latency.p95_ms": "<= 500"}
    tiny_project.write_config()
    config = pytester.path / "pyproject.toml"
    config.write_text(config.read_text() + "\n[tool.mlci.robustness]\nexamples = 5\n")
    pytester.makepyfile(
        test_user="""
        def test_model(mlci_model):
            assert mlci_model is not None

        def test_eval(mlci_eval):
            assert mlci_eval.model is not None
        """
    )
    result = pytester.runpytest("--mlci", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=5, errors=1)  # static and data items pass
    out = result.stdout.str()
    assert "Traceback" not in out and "FileNotFoundError" not in out
    for header in (
        "ERROR at setup of test_model",
        "test_eval",
        "mlci gate roc_auc >= 0.7",
        "mlci gate latency.p95_ms <= 500",
        "mlci robustness valid_rows",
    ):
        result.stdout.fnmatch_lines([f"*_ {header} _*", MISSING])
    result.stdout.fnmatch_lines(
        [
            "*_ mlci evaluation _*",
            "the evaluation crashed; no verdict:",
            f"  mlci::gate::roc_auc >= 0.7: {MISSING}",
            f"  mlci::gate::latency.p95_ms <= 500: {MISSING}",
        ]
    )


def test_an_unreadable_model_is_one_line_too(pytester, tiny_project):
    (pytester.path / "models" / "model.skops").write_bytes(b"not a model")
    result = pytester.runpytest("--mlci", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        ["*_ mlci gate roc_auc >= 0.7 _*", "*models/model.skops: not a readable skops file*"]
    )
    assert "Traceback" not in result.stdout.str()


def test_the_artifact_digest_of_a_missing_model_is_a_user_error(tmp_path, monkeypatch):
    from pytest_mlci.errors import DataError
    from pytest_mlci.model_io import artifact_digest

    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"^models/model.skops: model artifact not found; run"):
        artifact_digest(tmp_path / "models" / "model.skops")


# ------------------------------------------------------------------ data failures say why


def test_validate_data_without_checks_says_nothing_was_judged_and_why(invoke, tiny_dir):
    configure(tiny_dir, 'schema = "tiny_schema:TinySchema"\n', "")
    result = invoke("validate-data")
    assert result.exit_code == 0
    assert result.output == (
        "eval: nothing judged; no checks declared (add schema, reference, expected_rows or a "
        "quality key)\n"
    )


def test_an_unreadable_file_without_checks_fails_with_its_reason(invoke, tiny_dir):
    from mlci_local.pipeline import Pipeline

    configure(tiny_dir, 'schema = "tiny_schema:TinySchema"\n', "")
    (tiny_dir.root / "data" / "test.parquet").write_bytes(b"PAR1 this is not parquet")
    result = invoke("validate-data")
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == "eval: FAILED"
    assert "data/test.parquet: cannot be read as parquet (" in result.output
    config = load_config(tiny_dir.root / "pyproject.toml")
    with pytest.raises(CheckFailed, match=r"^dataset 'eval': .*cannot be read as parquet \("):
        Pipeline(config, echo=lambda line: None).stage_data()


def test_a_dataset_that_did_not_pass_always_has_a_reason():
    from pytest_mlci.data.results import CheckRow
    from pytest_mlci.data.validate import DatasetOutcome

    failed = CheckRow("quality", "x0", "null rate", 0.2, None, None, 0.0, "fail")
    outcome = DatasetOutcome(checks=("quality", "drift"), rows=(failed,), row_count=10)
    assert outcome.reasons() == [
        "quality x0: null rate 0.2 (limit 0) FAIL",
        "drift: judged nothing (the check produced no result), so it did not pass",
    ]
    assert DatasetOutcome((), (), None).reasons() == [
        "no checks declared (add schema, reference, expected_rows or a quality key)"
    ]
    assert DatasetOutcome(("schema",), (), None, "x.csv: the file is empty").reasons() == [
        "x.csv: the file is empty"
    ]


JUDGED_NOTHING = "schema: judged nothing (the check produced no result), so it did not pass"


def test_a_check_that_judged_nothing_says_so_in_the_cli_and_the_run(invoke, tiny_dir, monkeypatch):
    """A declared check that returns no row is inconclusive; each entry point says why
    instead of an empty list ("did not pass ():", "INCONCLUSIVE; ")."""
    from mlci_local.pipeline import Pipeline
    from pytest_mlci.data.validate import DatasetChecks

    monkeypatch.setattr(DatasetChecks, "schema", lambda self: [])
    result = invoke("validate-data")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "eval: INCONCLUSIVE; schema",
        f"  {JUDGED_NOTHING}",
    ]
    config = load_config(tiny_dir.root / "pyproject.toml")
    with pytest.raises(CheckFailed) as refused:
        Pipeline(config, echo=lambda line: None).stage_data()
    assert str(refused.value).splitlines() == [
        "dataset 'eval' did not pass (schema):",
        JUDGED_NOTHING,
    ]


def test_a_data_item_that_judged_nothing_says_so(pytester, tiny_project, monkeypatch):
    from pytest_mlci.data.validate import DatasetChecks

    monkeypatch.setattr(DatasetChecks, "schema", lambda self: [])
    result = pytester.runpytest("--mlci", "-p", "no:cacheprovider", "-m", "mlci_data")
    result.assert_outcomes(failed=1, deselected=3)
    result.stdout.fnmatch_lines(
        ["INCONCLUSIVE (counts as a failure): dataset 'eval' schema", f"  {JUDGED_NOTHING}"]
    )


def test_stage_2_lists_the_failing_rows_under_the_dataset(tiny_dir):
    import pandas as pd

    from mlci_local.pipeline import Pipeline

    data = tiny_dir.root / "data" / "test.parquet"
    frame = pd.read_parquet(data)
    frame.loc[7, "label"] = 5
    frame.to_parquet(data)
    config = load_config(tiny_dir.root / "pyproject.toml")
    with pytest.raises(CheckFailed) as refused:
        Pipeline(config, echo=lambda line: None).stage_data()
    first, second = str(refused.value).splitlines()[:2]
    assert first == "dataset 'eval' did not pass (schema):"
    assert second.startswith("schema label: isin") and second.endswith("FAIL")


# ------------------------------------------------------------------ mlci check


def test_mlci_check_ends_with_a_summary_and_keeps_its_exit_codes(invoke, tiny_dir):
    clean = invoke("check")
    assert clean.exit_code == 0
    assert clean.output.startswith("mlci check: 1 file, no findings (")
    assert clean.output.endswith(" s)\n")
    (tiny_dir.root / "src" / "leaky.py").write_text(
        "from sklearn.preprocessing import StandardScaler\n"
        "from sklearn.model_selection import train_test_split\n"
        "X_scaled = StandardScaler().fit_transform(X)\n"
        "X_tr, X_te, y_tr, y_te = train_test_split(X_scaled, y, random_state=0)\n"
    )
    found = invoke("check")
    assert found.exit_code == 1
    assert found.output.splitlines()[-1].startswith("mlci check: 2 files, 1 finding (")
    as_json = invoke("check", "--format", "json")
    assert as_json.exit_code == 1
    assert [f["code"] for f in json.loads(as_json.output)] == ["MLC001"]  # one document


# ------------------------------------------------------------------ end to end


def dvc_project(root: Path, tiny_assets: Path) -> Path:
    """The tiny project as a git + DVC repository whose `train` stage writes the model."""
    from conftest import build_tiny_project

    build_tiny_project(root, tiny_assets)
    (root / "models" / "model.skops").unlink()
    shutil.copy(tiny_assets / "good.skops", root / "src" / "good.skops")
    (root / "dvc.yaml").write_text(
        "stages:\n  train:\n"
        '    cmd: python -c "import shutil; '
        "shutil.copy('src/good.skops', 'models/model.skops')\"\n"
        "    deps: [src/good.skops]\n    outs: [models/model.skops]\n"
    )
    (root / ".gitignore").write_text(".mlci/\n")
    config = root / "pyproject.toml"
    config.write_text(config.read_text() + "\n[tool.mlci.staging]\nload_requests = 100\n")
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "config", "user.email", "dev@example.com"],
        ["git", "config", "user.name", "Dev"],
        [sys.executable, "-m", "dvc", "init", "-q"],
        [sys.executable, "-m", "dvc", "config", "core.analytics", "false"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "tiny"],
    ):
        subprocess.run(command, cwd=root, check=True, capture_output=True)
    return root


@pytest.mark.slow  # two `mlci run`s: train, evaluate, register, stage, promote
def test_a_gate_typo_exits_2_before_stage_1_even_when_nothing_changed(tmp_path, tiny_assets):
    from example_repo import mlci

    root = dvc_project(tmp_path, tiny_assets)
    first = mlci(root, "run")
    assert first.returncode == 0, first.stdout + first.stderr
    again = mlci(root, "run")  # nothing new: this used to be the "up to date", exit 0 path
    assert again.returncode == 0 and "up to date" in again.stdout
    config = root / "pyproject.toml"
    config.write_text(config.read_text().replace('"roc_auc" = ', '"roc_acu" = '))
    typo = mlci(root, "run")
    assert typo.returncode == 2, typo.stdout + typo.stderr
    assert "[1/7]" not in typo.stdout
    assert "configuration                FAILED: nothing ran" in typo.stdout
    assert (
        "pyproject.toml: key 'gates.roc_acu': unknown metric 'roc_acu' for task "
        "binary_classification; did you mean 'roc_auc'?"
    ) in typo.stdout
