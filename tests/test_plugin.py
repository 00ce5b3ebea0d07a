"""The pytest plugin as a user meets it: `pytest --mlci` in a small project."""

from __future__ import annotations

import json

import pytest


def run(pytester, *args):
    return pytester.runpytest("--mlci", "-p", "no:cacheprovider", *args)


def test_a_passing_gate_shows_in_the_summary_table(pytester, tiny_project):
    result = run(pytester, "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*mlci::static::src/train.py PASSED*",
            "*mlci::data::eval::schema PASSED*",
            "*mlci::gate::roc_auc >= 0.7 PASSED*",
            "*mlci::evaluation PASSED*",
            "*mlci gates*",
            "gate*candidate*baseline*delta*verdict",
            "roc_auc >= 0.7*0.8*PASS",
        ]
    )


def test_a_failing_gate_names_the_metric_and_fails_the_run(pytester, tiny_project):
    tiny_project.set_gate("roc_auc", ">= 0.99")
    result = run(pytester)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ mlci gate roc_auc >= 0.99 _*",
            "FAILED: roc_auc 0.8*whole interval fails >= 0.99",
            "FAILED mlci::gate::roc_auc >= 0.99 - FAILED: roc_auc 0.8*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_threshold_inside_the_interval_is_inconclusive_and_fails(pytester, tiny_project):
    run(pytester, "--mlci-report-json=first.json").assert_outcomes(passed=4)
    point = json.loads((pytester.path / "first.json").read_text())["gates"][0]["candidate"]
    tiny_project.set_gate("roc_auc", f">= {point['value']:.6f}")
    result = run(pytester)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*INCONCLUSIVE (counts as a failure)*straddles*"])


def test_a_worse_model_fails_an_absolute_floor(pytester, tiny_project, tiny_assets):
    import shutil

    shutil.copy(tiny_assets / "bad.skops", pytester.path / "models" / "model.skops")
    tiny_project.set_gate("accuracy", ">= 0.8")
    result = run(pytester)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*FAILED: accuracy 0.*"])


def test_an_unknown_metric_fails_collection_with_the_closest_name(pytester, tiny_project):
    tiny_project.set_gate("roc_acu", ">= 0.7")
    result = run(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*unknown metric 'roc_acu'*did you mean 'roc_auc'?*"])


def test_a_config_typo_is_a_usage_error_naming_file_key_and_fix(pytester, tiny_project):
    config = pytester.path / "pyproject.toml"
    config.write_text(config.read_text().replace("target =", "targt ="))
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*pyproject.toml: key 'tool.mlci.targt': unknown key*did you mean 'target'?*"]
    )


def test_a_baseline_gate_without_production_fails_closed_by_default(pytester, tiny_project):
    tiny_project.extra = ""
    tiny_project.set_gate("f1", ">= baseline - 0.01")
    result = run(pytester)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*no production model for 'tiny'*fail closed*"])


def test_the_first_model_policy_waives_baseline_gates_visibly(pytester, tiny_project):
    tiny_project.set_gate("f1", ">= baseline - 0.01")
    result = run(pytester, "-rs")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(["*waived: no production model yet*allow-first*"])


def test_no_gates_at_all_fails_the_evaluation_status(pytester, tiny_project):
    tiny_project.gates = {}
    tiny_project.write_config()
    result = run(pytester)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*no gates in [[]tool.mlci.gates[]]*cannot pass*"])


def test_a_metric_that_is_nan_fails(pytester, tiny_project):
    import pandas as pd

    data = pytester.path / "data" / "test.parquet"
    frame = pd.read_parquet(data)
    frame[frame["label"] == 1].to_parquet(data)  # one class only: ROC AUC is undefined
    result = run(pytester)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*roc_auc is NaN*never passes*"])


def test_data_that_breaks_the_schema_names_the_column(pytester, tiny_project):
    import pandas as pd

    data = pytester.path / "data" / "test.parquet"
    frame = pd.read_parquet(data)
    frame.loc[3, "group"] = "zzz"
    frame.to_parquet(data)
    result = run(pytester, "-m", "mlci_data")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*column 'group': isin*failed at rows 3*"])


def test_markers_select_one_kind_of_item(pytester, tiny_project):
    result = run(pytester, "-m", "mlci_gate", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["mlci::gate::roc_auc >= 0.7", "mlci::evaluation"])
    assert "mlci::static" not in result.stdout.str()


def test_without_the_flag_nothing_is_added_and_fixtures_say_why(pytester, tiny_project):
    pytester.makepyfile(test_user="def test_uses(mlci_model):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    assert "mlci::" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*fixtures need the plugin switched on: run pytest --mlci*"])


def test_fixtures_share_the_validated_data_and_the_model(pytester, tiny_project):
    pytester.makepyfile(
        test_user="""
        def test_model_scores_the_data(mlci_model, mlci_data, mlci_config):
            assert mlci_config.model == "tiny"
            features = mlci_data.drop(columns=["label"])
            assert mlci_model.predict(features).shape == (len(features),)
        """
    )
    result = run(pytester, "test_user.py")
    result.assert_outcomes(passed=5)


def test_the_json_report_records_digests_and_verdicts(pytester, tiny_project):
    from pytest_mlci.model_io import sha256_file

    run(pytester, "--mlci-report-json=out/report.json").assert_outcomes(passed=4)
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    assert report["passed"] is True
    assert report["candidate"]["sha256"] == sha256_file(pytester.path / "models" / "model.skops")
    assert report["data"]["rows"] == 2000
    assert [g["verdict"] for g in report["gates"]] == ["pass"]


def test_fairness_and_cost_gates_pass_and_fail_by_their_thresholds(pytester, tiny_project):
    config = pytester.path / "pyproject.toml"
    config.write_text(
        config.read_text().replace(
            'schema = "tiny_schema:TinySchema"',
            'schema = "tiny_schema:TinySchema"\nprotected = ["group"]',
        )
    )
    tiny_project.gates = {
        "fairness.demographic_parity_difference": "<= 0.2",
        "latency.p95_ms": "<= 0.000001",
        "size.model_mb": "<= 50",
    }
    text = config.read_text()
    gate_block = text[text.index("[tool.mlci.gates]") :]
    config.write_text(
        text.replace(
            gate_block,
            "[tool.mlci.gates]\n"
            + "\n".join(f'"{k}" = "{v}"' for k, v in tiny_project.gates.items())
            + "\n",
        )
    )
    result = run(pytester, "-rA")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(["*FAILED mlci::gate::latency.p95_ms <= 1e-06*"])
    result.stdout.fnmatch_lines(["*fairness.demographic_parity_difference <= 0.2*PASS*"])


def test_a_fairness_gate_without_protected_columns_fails_collection(pytester, tiny_project):
    tiny_project.set_gate("fairness.demographic_parity_difference", "<= 0.1")
    result = run(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*needs the protected attributes*protected = *"])


def test_robustness_items_run_on_generated_rows_and_declared_columns(pytester, tiny_project):
    config = pytester.path / "pyproject.toml"
    config.write_text(
        config.read_text() + '\n[tool.mlci.robustness]\nexamples = 30\ninvariant = ["group"]\n'
    )
    result = run(pytester, "-m", "mlci_robustness", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*mlci::robustness::valid_rows PASSED*", "*mlci::robustness::invariant::group PASSED*"]
    )
