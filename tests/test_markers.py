"""The runtime markers on a user's own tests: nondeterminism and leakage."""

from __future__ import annotations

import pandas as pd


def run(pytester, *args):
    return pytester.runpytest("--mlci", "-p", "no:cacheprovider", "-m", "not mlci", *args)


def test_a_deterministic_test_passes_all_runs(pytester, tiny_project):
    pytester.makepyfile(
        test_user="""
        import pytest

        @pytest.mark.mlci_nondeterminism(runs=3)
        def test_stable(mlci_record):
            mlci_record("score", 0.75)
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_values_that_change_between_runs_fail(pytester, tiny_project):
    pytester.makepyfile(
        test_user="""
        import random
        import pytest

        @pytest.mark.mlci_nondeterminism(runs=3)
        def test_unseeded(mlci_record):
            mlci_record("score", random.random())
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*recorded values differ between runs: score*"])


def test_a_flaky_outcome_fails_and_lists_the_runs(pytester, tiny_project):
    pytester.makepyfile(
        test_user="""
        import pytest
        calls = []

        @pytest.mark.mlci_nondeterminism(runs=3)
        def test_flaky():
            calls.append(1)
            assert len(calls) != 2, "second call differs"
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*nondeterministic outcome over 3 runs: run 1 passed; run 2 failed*"]
    )


def test_seeds_mode_gates_on_the_spread_of_a_metric(pytester, tiny_project):
    pytester.makepyfile(
        test_user="""
        import pytest

        @pytest.mark.mlci_nondeterminism(seeds=[0, 1, 2], max_spread=0.02)
        def test_narrow(mlci_seed, mlci_record):
            mlci_record("auc", 0.80 + 0.005 * mlci_seed)

        @pytest.mark.mlci_nondeterminism(seeds=[0, 1, 2], max_spread=0.02)
        def test_wide(mlci_seed, mlci_record):
            mlci_record("auc", 0.80 + 0.05 * mlci_seed)
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*'auc' spreads 0.1000 over seeds > max_spread 0.02*seed 2: 0.9000*"]
    )


def test_leakage_marker_finds_overlap_proxies_and_time_order(pytester, tiny_project):
    data = pytester.path / "data"
    test = pd.read_parquet(data / "test.parquet")
    test["ts"] = pd.Timestamp("2024-02-01")
    train = test.head(500).copy()
    train["ts"] = pd.Timestamp("2024-03-01")  # training rows newer than the test rows
    train.to_parquet(data / "train.parquet")
    leaky = test.copy()
    leaky["label_copy"] = leaky["label"]
    leaky.to_parquet(data / "leaky.parquet")
    pytester.makepyfile(
        test_user="""
        import pytest

        @pytest.mark.mlci_leakage(train="data/train.parquet", test="data/leaky.parquet", time="ts")
        def test_model_quality():
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*data leakage: 500 test row(s) also appear in the training data; "
            "feature 'label_copy' alone predicts 'label' (AUC 1.000); "
            "2000 test row(s) are older than the newest training row*"
        ]
    )


def test_leakage_marker_passes_clean_data(pytester, tiny_project):
    data = pytester.path / "data"
    from conftest import make_frame

    make_frame(1000, seed=11).to_parquet(data / "train.parquet")
    pytester.makepyfile(
        test_user="""
        import pytest

        @pytest.mark.mlci_leakage(train="data/train.parquet", test="eval")
        def test_model_quality():
            pass
        """
    )
    run(pytester).assert_outcomes(passed=1)
