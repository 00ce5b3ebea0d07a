"""The `mlci` command as a user meets it (click's CliRunner, in-process)."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from mlci_local.cli import cli, main


@pytest.fixture
def invoke(tiny_dir, monkeypatch):
    """Run `mlci ...` inside the tiny project."""
    monkeypatch.chdir(tiny_dir.root)
    runner = CliRunner()

    def call(*args: str, input: str | None = None):
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return call


def test_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("run", "check", "validate-data", "status", "promote", "rollback"):
        assert name in result.output


def test_a_config_mistake_exits_2_naming_file_key_and_fix(invoke, tiny_dir):
    config = tiny_dir.root / "pyproject.toml"
    config.write_text(config.read_text().replace('tier = "medium"\n', "") + "\n")
    config.write_text(
        config.read_text().replace(
            'task = "binary_classification"', 'task = "binary_clasification"'
        )
    )
    result = invoke("status")
    assert result.exit_code == 2
    assert "pyproject.toml: key 'tool.mlci.task'" in result.output
    assert "did you mean 'binary_classification'?" in result.output
    assert "Traceback" not in result.output


def test_no_config_at_all_exits_2_and_says_where_to_add_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 2
    assert "add a [tool.mlci] table to pyproject.toml" in result.output


def test_validate_data_passes_then_names_the_broken_column(invoke, tiny_dir):
    import pandas as pd

    ok = invoke("validate-data")
    assert ok.exit_code == 0
    assert "eval: ok (2,000 rows)" in ok.output
    data = tiny_dir.root / "data" / "test.parquet"
    frame = pd.read_parquet(data)
    frame.loc[7, "label"] = 5
    frame.to_parquet(data)
    bad = invoke("validate-data", "eval")
    assert bad.exit_code == 1
    assert "column 'label': isin" in bad.output and "rows 7" in bad.output


def test_validate_data_reports_a_corrupt_file_without_a_traceback(invoke, tiny_dir):
    (tiny_dir.root / "data" / "test.parquet").write_bytes(b"PAR1 this is not parquet")
    result = invoke("validate-data")
    assert result.exit_code == 1
    assert "test.parquet: cannot be read as parquet" in result.output
    assert "Traceback" not in result.output


def test_an_unknown_dataset_is_a_usage_error(invoke):
    result = invoke("validate-data", "evall")
    assert result.exit_code == 2
    assert "no dataset 'evall'; declared: eval" in result.output


def test_status_on_an_empty_registry_shows_no_aliases(invoke):
    result = invoke("status")
    assert result.exit_code == 0
    assert "versions: 0" in result.output
    assert "production  -" in result.output


def test_status_json_is_machine_readable(invoke):
    result = invoke("status", "--json")
    payload = json.loads(result.output)
    assert payload["model"] == "tiny" and payload["aliases"] == {}


def test_rollback_without_a_target_refuses_with_exit_1(invoke):
    result = invoke("rollback", "--yes")
    assert result.exit_code == 1
    assert "nothing to roll back to" in result.output


def test_rollback_asks_for_confirmation(invoke):
    result = invoke("rollback", input="n\n")
    assert result.exit_code == 1
    assert "Roll back production of 'tiny'?" in result.output


def test_promote_without_records_is_refused(invoke, tiny_dir):
    from mlci_local.registry import Registry
    from pytest_mlci.config import load_config
    from pytest_mlci.model_io import sha256_file

    config = load_config(tiny_dir.root / "pyproject.toml")
    Registry(config).register(config.artifact, sha256_file(config.artifact), tags={})
    result = invoke("promote", "1")
    assert result.exit_code == 1
    assert "no evaluation record" in result.output
    forced = invoke("promote", "v1", "--force", "--reason", "known good, INC-7")
    assert forced.exit_code == 0
    assert "production -> v1" in forced.output


def test_a_version_that_does_not_exist_is_a_usage_error_naming_it(invoke, tiny_dir):
    from mlci_local.registry import Registry
    from pytest_mlci.config import load_config
    from pytest_mlci.model_io import sha256_file

    config = load_config(tiny_dir.root / "pyproject.toml")
    Registry(config).register(config.artifact, sha256_file(config.artifact), tags={})
    for command in (("promote", "7"), ("approve", "tiny", "7")):
        result = invoke(*command)
        assert result.exit_code == 2, result.output
        assert "model 'tiny' has no version 7" in result.output
        assert "Traceback" not in result.output


def test_check_exits_1_with_findings_and_0_when_clean(invoke, tiny_dir):
    leaky = tiny_dir.root / "src" / "leaky.py"
    leaky.write_text(
        "from sklearn.model_selection import train_test_split\n"
        "from sklearn.preprocessing import StandardScaler\n"
        "X_scaled = StandardScaler().fit_transform(X)\n"
        "X_tr, X_te, y_tr, y_te = train_test_split(X_scaled, y, random_state=0)\n"
    )
    result = invoke("check", str(leaky))
    assert result.exit_code == 1
    assert "leaky.py:3:" in result.output and "MLC001" in result.output
    clean = invoke("check", str(tiny_dir.root / "src" / "train.py"))
    assert clean.exit_code == 0, clean.output


def test_main_returns_exit_codes_for_scripts(tiny_dir, monkeypatch, capsys):
    monkeypatch.chdir(tiny_dir.root)
    assert main(["status"]) == 0
    assert main(["no-such-command"]) == 2
    shutil.rmtree(tiny_dir.root / "data")
    assert main(["validate-data"]) == 1


# --------------------------------------------------------------------------- rollouts


@pytest.fixture
def two_versions(tiny_dir, tiny_assets):
    """Production v1 and a registered v2, both with passing evaluation and staging records."""
    from mlci_local.promotion import ledger_for, promote
    from mlci_local.registry import Registry
    from pytest_mlci.config import load_config
    from pytest_mlci.model_io import sha256_file

    config = load_config(tiny_dir.root / "pyproject.toml")
    registry, ledger = Registry(config), ledger_for(config)
    for source in ("good.skops", "bad.skops"):
        shutil.copy(tiny_assets / source, config.artifact)
        digest = sha256_file(config.artifact)
        registry.register(config.artifact, digest, tags={})
        for action in ("evaluation", "staging"):
            ledger.append(action, {"model": "tiny", "digest": digest, "passed": True})
    promote(config, registry, ledger, "1")
    return config, registry, ledger


def test_a_controller_killed_mid_rollout_shows_in_status_and_abort_rolls_it_back(
    invoke, two_versions
):
    from mlci_local.hookspec import plugin_manager

    config, registry, ledger = two_versions
    digest = registry.by_version("2").digest
    hooks = plugin_manager()
    for step, weight in enumerate((0.05, 0.25)):  # what a controller killed at 25 % leaves
        hooks.hook.mlci_set_weights(config=config, candidate_version="2", weight=weight)
        ledger.append("canary.step", {"model": "tiny", "version": "2", "digest": digest,
                                      "step": step, "weight": weight})  # fmt: skip
    shown = invoke("status")
    assert "rollout: canary of v2 at 25% of traffic (step 2 of 4)" in shown.output
    assert "UNFINISHED: the controller stopped here" in shown.output
    status = json.loads(invoke("status", "--json").output)["rollout"]
    assert (status["weight"], status["in_flight"]["step"]) == (0.25, 1)
    aborted = invoke("canary", "--abort")
    assert aborted.exit_code == 0
    assert "canary of v2 aborted at 25%; local router: all traffic back to production v1" in (
        aborted.output
    )
    assert "rollout: none (production serves all traffic)" in invoke("status").output


def test_shadow_mode_starts_from_the_cli_and_status_compares_the_answers(invoke, two_versions):
    import asyncio

    from mlci_local.rollout.router import build_app
    from tests.rollout.test_router import Constant, request

    config = two_versions[0]
    started = invoke("canary", "--shadow", "--version", "2")
    assert started.exit_code == 0, started.output
    assert "shadow: v2 now gets a copy of every request" in started.output
    app = build_app(config, production_model=Constant(0.25), candidate_model=Constant(0.75))
    body = {"dataframe_records": [{"x0": 0.5, "x1": 0.1, "x2": 0.0, "x3": 1.0, "group": "a"}]}
    for _ in range(10):
        reply = asyncio.run(request(app, "POST", "/invocations", json_body=body))
        assert reply.json()["predictions"] == [0.25]  # production's answer, never the shadow's
    assert app.state.router.shadows.drain()
    shown = invoke("status").output
    assert "rollout: shadow of v2: 10 of 10 requests compared; candidate errors 0" in shown
    assert "label agreement 0.0%; score difference mean 0.5000, max 0.5000" in shown
    ended = invoke("canary", "--abort")
    assert "shadow of v2 ended" in ended.output and "10 of 10 requests compared" in ended.output
    assert "rollout: none" in invoke("status").output


def test_stage_without_a_candidate_says_what_to_run(invoke):
    result = runner_invoke(invoke, "stage")
    assert result.exit_code == 1
    assert "tiny@candidate does not exist; run `mlci run --until register`" in result.output


def test_stage_names_every_compliance_problem_and_records_the_failure(invoke, two_versions):
    _, registry, ledger = two_versions
    registry.set_alias("candidate", "2")
    result = runner_invoke(invoke, "stage")
    assert result.exit_code == 1, result.output
    assert "staging did not pass:" in result.output
    assert "lineage: no git commit recorded" in result.output
    assert "model card: none attached to this version" in result.output
    record = ledger.find("staging", version="2")[-1]
    assert record.data["passed"] is False and record.data["requests"] > 0


@pytest.mark.parametrize(
    ("table", "key", "fix"),
    [
        ("steps = [0.5, 0.25, 1.0]", "tool.mlci.canary.steps", "must increase step by step"),
        ("steps = [0.05, 0.5]", "tool.mlci.canary.steps", "must end at 1.0"),
        ("steps = { higher = [1.0] }", "tool.mlci.canary.steps.higher", "is not a tier"),
        ("min_samples = [1, 2]", "tool.mlci.canary.min_samples", "one value per step"),
        ("judge = { quality_margin = 2 }", "tool.mlci.canary.judge.quality_margin",
         "e.g. quality_margin = 0.02"),
        ("traffic = { bacth = 10 }", "tool.mlci.canary.traffic.bacth", "did you mean 'batch'"),
    ],
)  # fmt: skip
def test_a_canary_config_mistake_exits_2_naming_file_key_and_fix(invoke, tiny_dir, table, key,
                                                                 fix):  # fmt: skip
    config = tiny_dir.root / "pyproject.toml"
    config.write_text(config.read_text() + f"\n[tool.mlci.canary]\n{table}\n")
    result = runner_invoke(invoke, "status")
    assert result.exit_code == 2
    assert "pyproject.toml" in result.output and key in result.output and fix in result.output
    assert "Traceback" not in result.output


def runner_invoke(invoke, *args):
    """Like ``invoke`` but through the group's error handling (exit codes, no traceback)."""
    return CliRunner().invoke(cli, list(args))
