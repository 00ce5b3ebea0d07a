"""`mlci canary --replay`: the controller and judge driven by a recorded request log."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

from mlci_local.cli import cli
from mlci_local.promotion import ledger_for, promote
from mlci_local.registry import Registry
from pytest_mlci.config import load_config
from pytest_mlci.model_io import sha256_file


def write_log(path, frame: pd.DataFrame, repeats: int) -> None:
    with open(path, "w") as handle:
        for r in range(repeats):
            for i, row in enumerate(frame.to_dict(orient="records")):
                label = row.pop("label")
                record = {"request_id": f"{r}-{i}", "features": row, "label": label}
                handle.write(json.dumps(record) + "\n")


@pytest.mark.slow  # scores ~16,000 single rows
def test_a_worse_candidate_is_rolled_back_from_a_recorded_log(tiny_dir, tiny_assets, monkeypatch):
    config = load_config(tiny_dir.root / "pyproject.toml")
    registry, ledger = Registry(config), ledger_for(config)
    versions = []
    for source in ("good.skops", "bad.skops"):
        shutil.copy(tiny_assets / source, config.artifact)
        digest = sha256_file(config.artifact)
        versions.append(registry.register(config.artifact, digest, tags={}).version.version)
        for action in ("evaluation", "staging"):
            ledger.append(action, {"model": "tiny", "digest": digest, "passed": True})
    promote(config, registry, ledger, versions[0])
    log = tiny_dir.root / "requests.jsonl"
    write_log(log, pd.read_parquet(tiny_dir.root / "data" / "test.parquet"), repeats=8)
    monkeypatch.chdir(tiny_dir.root)
    result = CliRunner().invoke(cli, ["canary", "--version", versions[1], "--replay", str(log)])
    assert result.exit_code == 1, result.output
    assert "canary FAILED: rolled back to production v1" in result.output
    assert registry.by_alias("production").version == versions[0]
    assert ledger.find("canary", version=versions[1])[-1].data["verdict"] == "fail"


def test_a_malformed_log_line_is_named(tiny_dir, monkeypatch):
    from mlci_local.rollout.replay import read_log
    from pytest_mlci.errors import DataError

    log = tiny_dir.root / "requests.jsonl"
    log.write_text('{"request_id": "1", "features": {"x0": 1}}\nnot json\n')
    with pytest.raises(DataError, match=r"requests\.jsonl:2: not a request record"):
        read_log(log)
