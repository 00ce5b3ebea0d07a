"""The check-ml-code pre-commit hook: exit codes, output, import cost, and a real pre-commit run."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_mlci.precommit.check_ml_code import main

REPO_ROOT = Path(__file__).resolve().parents[1]

BAD = textwrap.dedent(
    """\
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X = StandardScaler().fit_transform(X)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    """
)
GOOD = textwrap.dedent(
    """\
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_train, y_train)
    """
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.py").write_text(BAD)
    (tmp_path / "good.py").write_text(GOOD)
    return tmp_path


def test_a_leaky_file_fails_and_names_line_column_and_code(project: Path, capsys) -> None:
    assert main(["bad.py"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("bad.py:4:5: MLC001 ")


def test_a_clean_file_passes_silently(project: Path, capsys) -> None:
    assert main(["good.py"]) == 0
    assert capsys.readouterr().out == ""


def test_json_output_for_scripts(project: Path, capsys) -> None:
    assert main(["--format", "json", "bad.py", "good.py"]) == 1
    assert '"code": "MLC001"' in capsys.readouterr().out


def test_config_static_settings_are_honoured(project: Path, capsys) -> None:
    (project / "mlci.toml").write_text(
        'model = "m"\ntask = "regression"\ntarget = "y"\nartifact = "m.skops"\n'
        '[static]\nignore = ["MLC001"]\n'
    )
    assert main(["bad.py"]) == 0


def test_a_broken_config_is_one_clear_line_and_exit_2(project: Path, capsys) -> None:
    (project / "mlci.toml").write_text('model = "m"\n[static]\nignroe = []\n')
    assert main(["bad.py"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "configuration error" in err and "mlci.toml" in err


def test_the_hook_imports_nothing_heavy(project: Path) -> None:
    probe = textwrap.dedent(
        """
        import sys
        from pytest_mlci.precommit.check_ml_code import main
        status = main(["bad.py"])
        heavy = ("mlflow", "dvc", "pandas", "numpy", "sklearn", "scipy", "pandera", "skops")
        print("HEAVY:" + ",".join(m for m in heavy if m in sys.modules), status)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=project, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "HEAVY: 1"


@pytest.mark.slow
def test_pre_commit_try_repo_runs_the_hook_on_a_real_repository(tmp_path: Path) -> None:
    pre_commit = shutil.which("pre-commit") or str(Path(sys.executable).parent / "pre-commit")
    if not Path(pre_commit).exists():
        pytest.skip("pre-commit is not installed")
    # try-repo clones the hook repository; copy the working tree so uncommitted work counts.
    hooks_repo = tmp_path / "hooks"
    shutil.copytree(
        REPO_ROOT,
        hooks_repo,
        ignore=shutil.ignore_patterns(
            ".venv",
            ".git",
            "__pycache__",
            ".pytest_cache",
            ".ruff_cache",
            ".mlci",
            "*.egg-info",
            "data",
            "models",
            "metrics",
        ),
    )
    _git(hooks_repo, "init", "-q")
    _git(hooks_repo, "add", "-A")
    _git(hooks_repo, "commit", "-q", "-m", "hooks")
    user_repo = tmp_path / "user"
    user_repo.mkdir()
    _git(user_repo, "init", "-q")
    (user_repo / "train.py").write_text(BAD)
    _git(user_repo, "add", "train.py")
    env = {"PRE_COMMIT_HOME": str(tmp_path / "cache"), "PATH": _path(), "HOME": str(tmp_path)}
    done = subprocess.run(
        [pre_commit, "try-repo", str(hooks_repo), "check-ml-code", "--files", "train.py"],
        cwd=user_repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "train.py:4:5: MLC001" in done.stdout


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=test@example.com", "-c", "user.name=Test", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def _path() -> str:
    import os

    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
