"""Issue 14, data side: a tracked dvc.lock is not "dirty", volume compares with the last
validated count, duplicates are reported unless limited, and check-data-schema fires for
DVC-tracked data (a staged .dvc file or dvc.lock)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlci_local.lineage import git_state, sha256_of
from pytest_mlci.config import load_config
from pytest_mlci.data.validate import validate_dataset
from pytest_mlci.precommit.check_data_schema import main as check_data_schema

REPO_ROOT = Path(__file__).resolve().parents[1]


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=dev@example.com", "-c", "user.name=dev", *args],
        cwd=root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def declare(root: Path, extra: str) -> None:
    """Add keys to the tiny project's [tool.mlci.datasets.eval] table."""
    config = root / "pyproject.toml"
    anchor = 'schema = "tiny_schema:TinySchema"\n'
    config.write_text(config.read_text().replace(anchor, anchor + textwrap.dedent(extra)))


def eval_dataset(root: Path):
    return load_config(root / "pyproject.toml").datasets["eval"]


# ------------------------------------------------------------------ git state and dvc.lock


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository that tracks dvc.lock and a source file, committed clean."""
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    (tmp_path / "train.py").write_text("print('train')\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "start")
    return tmp_path


def test_a_dvc_lock_rewritten_by_the_run_itself_is_not_dirty(repo: Path) -> None:
    lock = repo / "dvc.lock"
    lock.write_text("schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n")
    written = {lock: sha256_of(lock)}
    state = git_state(repo, own_outputs=written)
    assert state.dirty is False and state.run_outputs == ("dvc.lock",)
    assert state.tags()["mlci.git.dirty"] == "false"
    # without knowing what the run wrote, the same tree is dirty (the old behaviour)
    assert git_state(repo).dirty is True


def test_an_edited_source_file_is_dirty_even_beside_the_runs_own_lock(repo: Path) -> None:
    lock = repo / "dvc.lock"
    lock.write_text("schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n")
    (repo / "train.py").write_text("print('edited, never committed')\n")
    state = git_state(repo, own_outputs={lock: sha256_of(lock)})
    assert state.dirty is True and state.run_outputs == ("dvc.lock",)


def test_a_lock_edited_after_the_run_wrote_it_is_dirty(repo: Path) -> None:
    lock = repo / "dvc.lock"
    lock.write_text("schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n")
    written = {lock: sha256_of(lock)}
    lock.write_text(lock.read_text() + "# edited by hand\n")
    state = git_state(repo, own_outputs=written)
    assert state.dirty is True and state.run_outputs == ()


def test_paths_with_spaces_and_renames_are_read_from_porcelain_z(repo: Path) -> None:
    (repo / "my notes.txt").write_text("a\n")
    git(repo, "add", "my notes.txt")
    git(repo, "commit", "-q", "-m", "notes")
    git(repo, "mv", "train.py", "fit.py")
    (repo / "my notes.txt").write_text("b\n")
    lock = repo / "dvc.lock"
    lock.write_text("changed\n")
    state = git_state(repo, own_outputs={lock: sha256_of(lock)})
    assert state.dirty is True  # the rename and the edit are real changes
    (repo / "my notes.txt").write_text("a\n")
    git(repo, "mv", "fit.py", "train.py")
    assert git_state(repo, own_outputs={lock: sha256_of(lock)}).dirty is False


def test_the_bundled_examples_dvc_lock_is_not_git_ignored() -> None:
    """DVC refuses to write a git-ignored lock ("'dvc.lock' is git-ignored."): the example
    commits its lock, like the projects it stands for."""
    done = subprocess.run(
        ["git", "check-ignore", "-q", "dvc.lock"], cwd=REPO_ROOT, capture_output=True
    )
    assert done.returncode == 1, "dvc.lock of the bundled example is git-ignored"


@pytest.mark.slow  # trains the bundled example three times through `mlci run`
def test_the_example_with_its_lock_committed_stays_clean_and_registers_clean(tmp_path):
    """The quickstart from a fresh clone leaves no changed or untracked file, and README's
    "change train.seed, commit, and run again" registers the new version as not dirty."""
    from tests.example_repo import example_repository, mlci, set_params

    example = example_repository(tmp_path / "example")
    first = mlci(example, "run", "--until", "register")
    assert first.returncode == 0, first.stdout + first.stderr
    assert git(example, "status", "--porcelain") == "?? dvc.lock"
    git(example, "add", "dvc.lock")
    git(example, "commit", "-q", "-m", "lock")

    clone = tmp_path / "clone"  # no DVC cache, no outputs: everything is trained again
    git(tmp_path, "clone", "-q", str(example), str(clone))
    fresh = mlci(clone, "run", "--until", "train")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "trained: dvc repro ran" in fresh.stdout
    assert git(clone, "status", "--porcelain") == ""

    set_params(example, train={"seed": 7})
    git(example, "commit", "-q", "-am", "seed 7")
    again = mlci(example, "run", "--until", "register")
    assert again.returncode == 0, again.stdout + again.stderr
    commit = git(example, "rev-parse", "HEAD")[:8]
    assert f"registration           ok: conversion v2 (commit {commit}) (" in again.stdout
    assert git(example, "status", "--porcelain") == "M dvc.lock"  # this run's own lock


# ------------------------------------------------------------------ a DVC project end to end

DVC_YAML = """\
stages:
  train:
    cmd: python make.py
    deps:
      - make.py
      - assets
    params:
      - train.seed
    outs:
      - models/model.skops
{extra_outs}"""
MAKE = """\
import shutil
shutil.copy("assets/model.skops", "models/model.skops")
{extra}"""


def dvc_project(root: Path, *, test_data_from_training: bool = False) -> Path:
    """The tiny project as a DVC pipeline in git, dvc.lock committed (as real projects do)."""
    (root / "assets").mkdir()
    shutil.move(root / "models" / "model.skops", root / "assets" / "model.skops")
    extra_outs, extra = "", ""
    if test_data_from_training:  # the evaluation file is a side output of training
        shutil.move(root / "data" / "test.parquet", root / "assets" / "test.parquet")
        extra_outs = "      - data/test.parquet\n"
        extra = 'shutil.copy("assets/test.parquet", "data/test.parquet")\n'
    (root / "dvc.yaml").write_text(DVC_YAML.format(extra_outs=extra_outs))
    (root / "make.py").write_text(MAKE.format(extra=extra))
    (root / "params.yaml").write_text("train:\n  seed: 1\n")
    (root / ".gitignore").write_text(".mlci/\n")
    git(root, "init", "-q")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    from mlci_local.training import reproduce

    reproduce(root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "pipeline with its lock")
    assert git(root, "ls-files", "dvc.lock") == "dvc.lock"
    return root


def new_params(root: Path, seed: int) -> None:
    (root / "params.yaml").write_text(f"train:\n  seed: {seed}\n")
    git(root, "commit", "-q", "-am", f"seed {seed}")


@pytest.mark.slow
def test_a_run_that_retrains_a_project_tracking_dvc_lock_registers_it_clean(
    tiny_dir, tmp_path, monkeypatch
):
    from mlci_local.pipeline import Pipeline

    monkeypatch.chdir(tiny_dir.root)  # as `mlci run` is run: DVC reads the working directory
    root = dvc_project(tiny_dir.root)
    new_params(root, 2)  # committed: the run's repro rewrites dvc.lock, nothing else changes
    pipeline = Pipeline(load_config(root / "pyproject.toml"), echo=lambda line: None)
    assert pipeline.stage_train()[0] == "trained"
    assert git(root, "status", "--porcelain", "--untracked-files=no") == "M dvc.lock"
    status, detail = pipeline.stage_register()
    commit = git(root, "rev-parse", "HEAD")
    assert (status, detail) == ("ok", f"tiny v1 (commit {commit[:8]})")  # no "uncommitted"
    record = list(pipeline.ledger.records())[-1]
    assert record.action == "register" and record.data["dirty"] is False
    version = pipeline.registry.by_version("1")
    (tmp_path / "dl").mkdir()
    folder = pipeline.registry.download_run_folder(version.run_id, "mlci", str(tmp_path / "dl"))
    lineage = json.loads((folder / "lineage.json").read_text())
    assert lineage["git"]["dirty"] is False and lineage["git"]["run_outputs"] == ["dvc.lock"]
    assert lineage["dvc_lock"]["post_repro"] is True
    assert lineage["dvc_lock"]["written_by_this_run"] is True
    assert lineage["dvc_lock"]["sha256"] == sha256_of(root / "dvc.lock")
    assert (folder / "dvc.lock").read_text() == (root / "dvc.lock").read_text()
    assert "seed: 2" in (folder / "dvc.lock").read_text()  # the lock after this run's repro

    # A genuinely dirty tree is still recorded dirty: an edited, uncommitted source file.
    new_params(root, 3)
    (root / "src" / "train.py").write_text("# edited, never committed\n")
    again = Pipeline(load_config(root / "pyproject.toml"), echo=lambda line: None)
    assert again.stage_train()[0] == "trained"
    again.stage_register()
    record = list(again.ledger.records())[-1]
    assert record.action == "register" and record.data["dirty"] is True


@pytest.mark.slow
def test_training_that_stage_2_ran_for_the_data_is_reported_as_training(tiny_dir, monkeypatch):
    from mlci_local.pipeline import Pipeline

    monkeypatch.chdir(tiny_dir.root)
    root = dvc_project(tiny_dir.root, test_data_from_training=True)
    new_params(root, 2)
    pipeline = Pipeline(load_config(root / "pyproject.toml"), echo=lambda line: None)
    status, detail = pipeline.stage_data()
    assert status == "ok" and detail.endswith("; dvc produced it (train)")
    status, detail = pipeline.stage_train()
    assert status == "trained"
    assert re.fullmatch(
        r"trained in stage 2 \(dvc repro ran train to produce data/test\.parquet\); "
        r"artifact [0-9a-f]{12}",
        detail,
    ), detail
    # nothing new at all: both stages say so
    quiet = Pipeline(load_config(root / "pyproject.toml"), echo=lambda line: None)
    assert quiet.stage_data()[1] == "eval 2,000 rows, schema ok"
    assert quiet.stage_train()[0] == "up to date"


# ------------------------------------------------------------------ volume


def test_volume_remembers_the_first_passing_count_and_fails_a_halved_delivery(tiny_dir):
    root = tiny_dir.root
    data = root / "data" / "test.parquet"
    frame = pd.read_parquet(data)
    frame.head(500).to_parquet(root / "data" / "reference.parquet")  # a split of another size
    declare(root, 'reference = "data/reference.parquet"\n')
    first = validate_dataset(eval_dataset(root), root=root)
    [volume] = [row for row in first.rows if row.check == "volume"]
    assert volume.verdict == "pass"
    assert volume.detail.startswith("first validated count: 2,000 rows")
    memory = root / ".mlci" / "cache" / "volume" / "eval.json"
    assert json.loads(memory.read_text())["rows"] == 2000

    frame.head(1000).to_parquet(data)  # half the rows: a lost partition
    second = validate_dataset(eval_dataset(root), root=root)
    [volume] = [row for row in second.rows if row.check == "volume"]
    assert volume.verdict == "fail"
    assert volume.detail.startswith("1,000 rows vs 2,000 (previously validated count of ")
    assert volume.detail.endswith(
        "-50.0%, allowed +-20%; if the new size is right, declare expected_rows or delete "
        ".mlci/cache/volume/eval.json"
    )
    assert json.loads(memory.read_text())["rows"] == 2000  # a failed delivery is not kept


def test_expected_rows_wins_over_the_remembered_count(tiny_dir):
    root = tiny_dir.root
    declare(root, "expected_rows = 2100\n")
    outcome = validate_dataset(eval_dataset(root), root=root)
    [volume] = [row for row in outcome.rows if row.check == "volume"]
    assert volume.verdict == "pass" and "2,000 rows vs 2,100 (expected_rows)" in volume.detail


def test_a_failing_check_keeps_the_count_from_being_remembered(tiny_dir):
    root = tiny_dir.root
    frame = pd.read_parquet(root / "data" / "test.parquet")
    frame.loc[3, "group"] = "zzz"  # breaks the schema
    frame.to_parquet(root / "data" / "test.parquet")
    declare(root, "max_null_rate = 0.0\nvolume_tolerance = 0.2\nexpected_rows = 2000\n")
    outcome = validate_dataset(eval_dataset(root), root=root)
    assert any(row.verdict == "fail" for row in outcome.rows)
    assert not (root / ".mlci" / "cache" / "volume" / "eval.json").exists()


def test_pytest_items_remember_the_count_only_after_the_dataset_passed(pytester, tiny_project):
    root = pytester.path
    shutil.copy(root / "data" / "test.parquet", root / "data" / "reference.parquet")
    declare(root, 'reference = "data/reference.parquet"\n')
    args = ("--mlci", "-p", "no:cacheprovider", "-m", "mlci_data", "-v")
    pytester.runpytest(*args).assert_outcomes(passed=4)
    memory = root / ".mlci" / "cache" / "volume" / "eval.json"
    assert json.loads(memory.read_text())["rows"] == 2000
    pd.read_parquet(root / "data" / "test.parquet").head(1200).to_parquet(
        root / "data" / "test.parquet"
    )
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*1,200 rows vs 2,000 (previously validated count of *"])
    assert json.loads(memory.read_text())["rows"] == 2000


# ------------------------------------------------------------------ duplicates


def test_duplicates_are_reported_not_failed_unless_a_limit_is_declared(tiny_dir):
    root = tiny_dir.root
    frame = pd.read_parquet(root / "data" / "test.parquet")
    pd.concat([frame, frame.head(470)]).to_parquet(root / "data" / "test.parquet")  # 19 %
    declare(root, "max_null_rate = 0.0\n")
    outcome = validate_dataset(eval_dataset(root), root=root)
    [dup] = [row for row in outcome.rows if row.test == "duplicate rows"]
    assert dup.verdict == "pass" and dup.threshold is None
    assert dup.describe() == (
        "<frame>: duplicate rows 0.1903 - 470 duplicate rows (19.0%), reported only: set "
        "max_duplicate_rate to fail above a limit PASS"
    )
    declare(root, "max_duplicate_rate = 0.05\n")
    outcome = validate_dataset(eval_dataset(root), root=root)
    [dup] = [row for row in outcome.rows if row.test == "duplicate rows"]
    assert dup.verdict == "fail" and dup.describe() == (
        "<frame>: duplicate rows 0.1903 (limit 0.05) - 470 duplicate rows (19.0%) FAIL"
    )


# ------------------------------------------------------------------ check-data-schema and DVC


def write_dvc_file(path: Path, out: str) -> None:
    path.write_text(f"outs:\n- md5: 0123456789abcdef0123456789abcdef\n  size: 1\n  path: {out}\n")


def break_group(root: Path) -> None:
    frame = pd.read_parquet(root / "data" / "test.parquet")
    frame.loc[4, "group"] = "zzz"
    frame.to_parquet(root / "data" / "test.parquet")


def test_a_staged_dvc_file_validates_the_data_it_points_to(tiny_dir, monkeypatch, capsys):
    monkeypatch.chdir(tiny_dir.root)
    write_dvc_file(tiny_dir.root / "data" / "test.parquet.dvc", "test.parquet")
    assert check_data_schema(["data/test.parquet.dvc"]) == 0
    assert capsys.readouterr().out == ""
    break_group(tiny_dir.root)
    assert check_data_schema(["data/test.parquet.dvc"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("data/test.parquet: [eval] column 'group': isin")
    # the data file and its .dvc file staged together: reported once
    assert check_data_schema(["data/test.parquet", "data/test.parquet.dvc"]) == 1
    assert capsys.readouterr().out == out


def test_a_dvc_file_for_a_directory_validates_the_dataset_inside(tiny_dir, monkeypatch, capsys):
    monkeypatch.chdir(tiny_dir.root)
    write_dvc_file(tiny_dir.root / "data.dvc", "data")
    break_group(tiny_dir.root)
    assert check_data_schema(["data.dvc"]) == 1
    assert capsys.readouterr().out.startswith("data/test.parquet: [eval] column 'group'")


def test_a_changed_dvc_lock_validates_its_outputs_relative_to_the_stage_wdir(
    tiny_dir, monkeypatch, capsys
):
    root = tiny_dir.root
    monkeypatch.chdir(root)
    (root / "dvc.yaml").write_text(
        "stages:\n  prepare:\n    wdir: data\n    cmd: python prep.py\n    outs:\n"
        "      - test.parquet\n"
    )
    (root / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  prepare:\n    cmd: python prep.py\n    outs:\n"
        "    - path: test.parquet\n      md5: 0123456789abcdef0123456789abcdef\n"
    )
    assert check_data_schema(["dvc.lock"]) == 0
    break_group(root)
    assert check_data_schema(["dvc.lock"]) == 1
    assert capsys.readouterr().out.startswith("data/test.parquet: [eval] column 'group'")


def test_tracked_data_that_is_not_checked_out_is_named_not_failed(tiny_dir, monkeypatch, capsys):
    monkeypatch.chdir(tiny_dir.root)
    write_dvc_file(tiny_dir.root / "data" / "test.parquet.dvc", "test.parquet")
    (tiny_dir.root / "data" / "test.parquet").unlink()
    assert check_data_schema(["data/test.parquet.dvc"]) == 0
    assert capsys.readouterr().out == (
        "data/test.parquet: [eval] tracked by data/test.parquet.dvc but not in the workspace; "
        "not checked (`dvc checkout` or `dvc pull` brings it)\n"
    )


def test_a_broken_dvc_file_fails_naming_it(tiny_dir, monkeypatch, capsys):
    monkeypatch.chdir(tiny_dir.root)
    (tiny_dir.root / "data" / "test.parquet.dvc").write_text("outs: [\n")
    assert check_data_schema(["data/test.parquet.dvc"]) == 1
    assert capsys.readouterr().out.startswith(
        "data/test.parquet.dvc: cannot be read as a DVC file ("
    )


def test_a_dvc_file_of_undeclared_data_imports_no_pandas(tiny_dir):
    write_dvc_file(tiny_dir.root / "other.csv.dvc", "other.csv")
    probe = (
        "import sys\n"
        "from pytest_mlci.precommit.check_data_schema import main\n"
        "code = main(sys.argv[1:])\n"
        "print('PANDAS' if 'pandas' in sys.modules else 'LIGHT', code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "other.csv.dvc"],
        cwd=tiny_dir.root, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "LIGHT 0", done.stdout + done.stderr


def test_the_hook_is_declared_to_run_on_dvc_files_and_dvc_lock() -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())}
    pattern = re.compile(hooks["check-data-schema"]["files"])
    for staged in ("data/test.parquet", "data/test.parquet.dvc", "dvc.lock", "sub/dvc.lock"):
        assert pattern.search(staged), staged
    for staged in ("dvc.yaml", "train.py", "notdvc.lock"):
        assert not pattern.search(staged), staged


def test_the_example_saves_one_model_as_the_same_bytes_that_load_the_same(tmp_path):
    """Its committed dvc.lock stays as it is after a fresh clone's training."""
    import numpy as np
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from example.train import save
    from pytest_mlci.content_digest import content_digest

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 3)), rng.integers(0, 2, 200)

    def fitted():
        return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)

    first, second = save(fitted(), tmp_path / "a.skops"), save(fitted(), tmp_path / "b.skops")
    plain = tmp_path / "plain.skops"
    sio.dump(fitted(), plain)
    assert first.read_bytes() == second.read_bytes()
    assert content_digest(first) == content_digest(plain)  # the same model as skops wrote it
    loaded = sio.load(first, trusted=sio.get_untrusted_types(file=first))
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted().predict_proba(X))
