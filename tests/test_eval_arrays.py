"""Evaluation gates on a loader's (X, y): sparse TF-IDF-like features and a real model.

A LogisticRegression trained on a CSR matrix is judged on CSR data that is never made dense;
a featurisation change (production on 200 sparse features, the candidate on 300) is named in
words while the absolute gates are still judged; a changed loader invalidates cached
estimates; columns the arrays do not have (protected, segments) are a config error.
"""

from __future__ import annotations

import pickle
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from pytest_mlci.config import load_config
from pytest_mlci.errors import ConfigError
from pytest_mlci.evaluation.session import INCOMPATIBLE, PRESENT, Evaluation
from pytest_mlci.gates import FAIL, PASS, parse_gate
from tests.data.test_loaders import LOADER, sparse_data


def fitted(features: int, *, seed: int = 0):
    from sklearn.linear_model import LogisticRegression

    X, y, _ = sparse_data(3000, features, seed=seed)
    return LogisticRegression(max_iter=500).fit(X, y)


def sparse_project(root: Path, *, features: int = 300, gates: str, extra: str = "") -> Path:
    """Loader, CSR evaluation data, a LogisticRegression trained on CSR, and the config."""
    import skops.io as sio

    (root / "data").mkdir(exist_ok=True)
    (root / "models").mkdir(exist_ok=True)
    (root / "features.py").write_text(LOADER)
    with open(root / "data" / "eval.pkl", "wb") as handle:
        pickle.dump(sparse_data(2000, features, seed=11), handle)
    sio.dump(fitted(features), root / "models" / "model.skops")
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [tool.mlci]
            model = "tfidf"
            task = "binary_classification"
            target = "label"
            artifact = "models/model.skops"
            on_missing_baseline = "allow-first"
            {extra}
            [tool.mlci.datasets.eval]
            path = "data/eval.pkl"
            loader = "features:arrays"

            [tool.mlci.evaluation]
            resamples = 200

            [tool.mlci.gates]
            {gates}
            """
        ).format(gates=gates, extra=extra)
    )
    return root / "pyproject.toml"


def judge(config, *gates: tuple[str, str]):
    evaluation = Evaluation(config)
    return evaluation, [evaluation.check_gate(parse_gate(m, e)) for m, e in gates]


def test_gates_are_judged_on_csr_without_making_it_dense(tmp_path, monkeypatch):
    from tests.data.test_loaders import refuse_densifying

    config = load_config(sparse_project(tmp_path, gates='roc_auc = ">= 0.8"'))
    refuse_densifying(monkeypatch)  # from here on: after training and saving
    evaluation, (good, too_high, latency, average_precision) = judge(
        config,
        ("roc_auc", ">= 0.8"),
        ("roc_auc", ">= 0.999"),
        ("latency.p95_ms", "<= 1000"),
        ("average_precision", ">= 0.8"),
    )
    assert (good.verdict, too_high.verdict, latency.verdict) == (PASS, FAIL, PASS)
    assert average_precision.verdict == PASS
    import scipy.sparse as sp

    assert sp.issparse(evaluation.features) and evaluation.features.format == "csr"
    assert evaluation.data.describe() == "2,000 rows x 300 features (sparse)"
    assert set(np.unique(evaluation.y_true)) == {0, 1}


def test_a_numpy_loader_is_evaluated_and_the_fixture_hands_out_x_and_y(tmp_path):
    config_file = sparse_project(tmp_path, gates='roc_auc = ">= 0.8"')
    text = config_file.read_text().replace("features:arrays", "features:dense")
    config_file.write_text(text)
    evaluation, (gate,) = judge(load_config(config_file), ("roc_auc", ">= 0.8"))
    assert gate.verdict == PASS
    assert isinstance(evaluation.data.X, np.ndarray) and evaluation.data.feature_names[0] == "f0"


def test_protected_and_segments_need_a_table(tmp_path):
    config_file = sparse_project(tmp_path, gates='roc_auc = ">= 0.8"')
    text = config_file.read_text()
    segmented = text.replace("resamples = 200", 'resamples = 200\nsegments = ["tok_1"]')
    config_file.write_text(segmented)
    evaluation = Evaluation(load_config(config_file))
    with pytest.raises(ConfigError, match=r"evaluation.segments'.*needs a loader returning a Data"):
        evaluation.slice_tables()
    protected = text.replace('loader = "features:arrays"', 'loader = "features:arrays"\n'
                             'protected = ["tok_1"]')  # fmt: skip
    config_file.write_text(protected)
    with pytest.raises(ConfigError, match=r"protected needs a loader returning a DataFrame"):
        Evaluation(load_config(config_file)).protected_groups  # noqa: B018


def test_a_changed_loader_is_changed_data_for_the_cache(tmp_path):
    config_file = sparse_project(tmp_path, gates='roc_auc = ">= 0.8"')
    before = Evaluation(load_config(config_file)).data_digest
    assert Evaluation(load_config(config_file)).data_digest == before
    loader = tmp_path / "features.py"
    loader.write_text(loader.read_text() + "\n# features v2: another vocabulary\n")
    sys.modules.pop("features", None)  # a new process would import the new source
    assert Evaluation(load_config(config_file)).data_digest != before


def test_200_sparse_features_against_300_names_production_and_judges_absolute_gates(tiny_dir):
    from mlci_local.promotion import ledger_for, promote
    from mlci_local.registry import Registry
    from pytest_mlci.model_io import sha256_file

    config_file = sparse_project(tiny_dir.root, gates='roc_auc = ">= 0.8"')
    config = load_config(config_file)
    candidate = config.artifact.read_bytes()
    import skops.io as sio

    sio.dump(fitted(200, seed=3), config.artifact)  # production: the old featurisation
    registry = Registry(config)
    version = registry.register(config.artifact, sha256_file(config.artifact), tags={})
    promote(config, registry, ledger_for(config), version.version.version, force=True,
            reason="test setup")  # fmt: skip
    config.artifact.write_bytes(candidate)
    evaluation, (floor, vs_production) = judge(
        config, ("roc_auc", ">= 0.8"), ("roc_auc", ">= baseline - 0.01")
    )
    assert floor.verdict == PASS and floor.delta is None
    assert vs_production.verdict == FAIL
    assert (
        "production v1 expects 200 features; the evaluation data has 300; absolute gates are "
        "judged on the candidate alone"
    ) in vs_production.message
    assert evaluation.comparable_baseline.status == INCOMPATIBLE
    assert evaluation.baseline.status == PRESENT


def test_pytest_mlci_passes_and_fails_gates_on_a_csr_loader(pytester):
    sparse_project(pytester.path, gates='roc_auc = ">= 0.8"\nf1 = ">= 0.6"')
    result = pytester.runpytest("--mlci", "-p", "no:cacheprovider", "-v")
    result.stdout.fnmatch_lines(["*roc_auc >= 0.8*PASSED*", "*f1 >= 0.6*PASSED*"])
    assert result.ret == 0, result.stdout.str()
    sparse_project(pytester.path, gates='roc_auc = ">= 0.999"')
    result = pytester.runpytest("--mlci", "-p", "no:cacheprovider", "-v")
    result.stdout.fnmatch_lines(["*roc_auc >= 0.999*FAILED*"])
    assert result.ret == 1 and "Traceback" not in result.stdout.str()


def test_a_malformed_loader_fails_the_gates_in_one_line(pytester):
    config_file = sparse_project(pytester.path, gates='roc_auc = ">= 0.8"')
    (pytester.path / "data" / "mismatch.bin").write_bytes(b"x")
    text = config_file.read_text().replace('path = "data/eval.pkl"', 'path = "data/mismatch.bin"')
    config_file.write_text(text.replace("features:arrays", "features:returns"))
    result = pytester.runpytest("--mlci", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        ["*key 'datasets.eval.loader': 'features:returns' on *mismatch.bin: X has 1,000 rows "
         "but y has 999; they must describe the same rows*"]
    )  # fmt: skip
    assert "Traceback" not in result.stdout.str()
    assert result.ret == 1
