"""Many models in one configuration: the template, each model's table, and which models a
change touches (pytest_mlci/project.py, mlci_local/affected.py). Fast: no model is trained."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlci_local.affected import affected_models
from mlci_local.cli import main
from pytest_mlci.config import load_config
from pytest_mlci.errors import ConfigError
from pytest_mlci.project import load_project

TEMPLATE = """\
[tool.mlci]
on_missing_baseline = "allow-first"
tier = "medium"

[tool.mlci.evaluation]
resamples = 300

[tool.mlci.gates]
"latency.p95_ms" = "<= 50"

[tool.mlci.models.churn]
task = "binary_classification"
target = "churned"
artifact = "models/churn.skops"
owners = ["growth@example.com"]
paths = ["src/churn"]

[tool.mlci.models.churn.gates]
roc_auc = ">= 0.75"

[tool.mlci.models.fraud]
model = "fraud-detector"
task = "multiclass"
target = "label"
artifact = "models/fraud.skops"
tier = "high"
owners = ["risk-a@example.com", "risk-b@example.com"]
paths = ["src/fraud"]

[tool.mlci.models.fraud.evaluation]
confidence = 0.99
"""


def write(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(text)
    return root / "pyproject.toml"


def test_each_model_inherits_the_template_and_overrides_it(tmp_path):
    project = load_project(write(tmp_path, TEMPLATE))
    assert project.multi and project.names == ("churn", "fraud")
    churn, fraud = project.models["churn"], project.models["fraud"]
    assert churn.model == "churn" and fraud.model == "fraud-detector"  # table name by default
    assert churn.on_missing_baseline == fraud.on_missing_baseline == "allow-first"
    assert churn.tier == "medium" and fraud.tier == "high"
    # tables merge key by key: the template's latency gate plus each model's own
    assert {g.metric for g in churn.gates} == {"latency.p95_ms", "roc_auc"}
    assert churn.evaluation.resamples == fraud.evaluation.resamples == 300
    assert churn.evaluation.confidence == 0.95 and fraud.evaluation.confidence == 0.99
    # a model's owners approve it; no approver list had to be repeated for tier high
    assert fraud.approvals.approvers == ("risk-a@example.com", "risk-b@example.com")
    assert fraud.audit.ledger_id == "models"  # one ledger, one chain name
    assert load_config(project.source, model="fraud-detector") == fraud


def test_a_single_model_configuration_is_unchanged(tmp_path):
    source = write(tmp_path, TEMPLATE.split("[tool.mlci.models.churn]")[0].replace(
        '[tool.mlci]\n', '[tool.mlci]\nmodel = "one"\ntask = "regression"\ntarget = "y"\n'
        'artifact = "m.skops"\n'))  # fmt: skip
    config = load_config(source)
    assert config.model == "one" and not config.multi and config.label == "one"
    assert [e.name for e in config.environments] == ["staging", "production"]


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ('[tool.mlci]\nregistry = "sqlite:///r.db"\n', "tool.mlci.models.churn.registry", None),
        ("", "tool.mlci.models", "choose one with --model"),
        ("\n[tool.mlci.models.churn.tier]\nx = 1\n", "tool.mlci.models.churn.tier", None),
    ],
)
def test_mistakes_name_the_table_and_key(tmp_path, change, key, words):
    if change.startswith("[tool.mlci]\nregistry"):  # per model: refused, it is shared
        text = TEMPLATE.replace('paths = ["src/churn"]', 'paths = ["src/churn"]\nregistry = "x"')
        with pytest.raises(ConfigError, match="set it once"):
            load_project(write(tmp_path, text))
        return
    if words:
        with pytest.raises(ConfigError, match=words):
            load_config(write(tmp_path, TEMPLATE))
        return
    text = TEMPLATE.replace('tier = "high"\n', "") + change.replace("tier]\nx = 1", "canary]\nx=1")
    with pytest.raises(ConfigError) as error:
        load_project(write(tmp_path, text))
    assert "tool.mlci.models.churn.canary.x" in str(error.value)


def test_an_inherited_mistake_points_at_the_template(tmp_path):
    text = TEMPLATE.replace('"latency.p95_ms" = "<= 50"', '"latency.p95_ms" = 50')
    with pytest.raises(ConfigError) as error:
        load_project(write(tmp_path, text))
    message = str(error.value)
    assert "key 'tool.mlci.gates.latency.p95_ms'" in message and "inherited by" in message


def test_two_models_cannot_share_an_artifact_or_a_name(tmp_path):
    text = TEMPLATE.replace("models/fraud.skops", "models/churn.skops")
    with pytest.raises(ConfigError, match="artifact"):
        load_project(write(tmp_path, text))
    with pytest.raises(ConfigError, match="move it into each model's table"):
        load_project(
            write(tmp_path, TEMPLATE.replace("[tool.mlci]\n", '[tool.mlci]\nmodel = "x"\n'))
        )


def test_unknown_model_suggests_the_closest(tmp_path):
    project = load_project(write(tmp_path, TEMPLATE))
    with pytest.raises(ConfigError, match="did you mean 'churn'"):
        project.select("chrun")


def test_cli_without_model_lists_them_and_exits_2(tmp_path, monkeypatch, capsys):
    write(tmp_path, TEMPLATE)
    monkeypatch.chdir(tmp_path)
    assert main(["promote", "1"]) == 2
    assert "configures 2 models (churn, fraud); choose one with --model NAME" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("chain", "message"),
    [
        ('chain = ["staging", "preprod"]', "end at 'production'"),
        ('chain = ["dev", "candidate", "production"]', "cannot name an environment"),
        ('chain = ["dev", "production"]\n[tool.mlci.environments.qa]\nrequires = []', "not in"),
        (
            'chain = ["dev", "production"]\n[tool.mlci.environments.production]\n'
            'requires = ["sign-off"]',
            "'sign-off' is not a check",
        ),
        (
            'chain = ["dev", "production"]\n[tool.mlci.environments.dev]\nsoak_minutes = 5',
            "first environment",
        ),
    ],
)
def test_environment_chain_mistakes(tmp_path, chain, message):
    text = TEMPLATE + f"\n[tool.mlci.environments]\n{chain}\n"
    with pytest.raises(ConfigError, match=message):
        load_project(write(tmp_path, text))


# ------------------------------------------------------------------ which models a change runs

DVC_YAML = """\
stages:
  prepare:
    cmd: python src/common/prepare.py
    deps: [src/common/prepare.py]
    outs: [data]
  train_churn:
    cmd: python src/churn/train.py
    deps: [src/churn/train.py, data]
    params: [churn.C]
    outs: [models/churn.skops]
  train_fraud:
    cmd: python src/fraud/train.py
    deps: [src/fraud/train.py, data]
    outs: [models/fraud.skops]
"""


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture
def repository(tmp_path) -> Path:
    root = tmp_path / "repo"
    write(root, TEMPLATE)
    for path in ("src/common/prepare.py", "src/churn/train.py", "src/fraud/train.py"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("print('hi')\n")
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "params.yaml").write_text("churn:\n  C: 1.0\nfraud:\n  depth: 3\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "dev@example.com")
    git(root, "config", "user.name", "Dev")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    git(root, "checkout", "-qb", "feature")
    return root


def runs(root: Path) -> dict[str, str | None]:
    found = affected_models(load_project(root / "pyproject.toml"))
    return {name: affected.reason for name, affected in found.items()}


def test_nothing_changed_on_a_branch_runs_nothing(repository):
    assert runs(repository) == {"churn": None, "fraud": None}


def test_a_models_code_runs_only_that_model(repository):
    (repository / "src" / "fraud" / "train.py").write_text("print('changed')\n")  # uncommitted
    found = runs(repository)
    assert found["churn"] is None and "src/fraud/train.py changed since" in found["fraud"]


def test_shared_upstream_code_runs_every_model(repository):
    (repository / "src" / "common" / "prepare.py").write_text("print('new data')\n")
    git(repository, "commit", "-qam", "new data")
    assert all(runs(repository).values())


def test_a_parameter_runs_only_the_stage_that_reads_it(repository):
    (repository / "params.yaml").write_text("churn:\n  C: 1.0\nfraud:\n  depth: 4\n")
    assert runs(repository) == {"churn": None, "fraud": None}  # nobody reads fraud.depth
    (repository / "params.yaml").write_text("churn:\n  C: 2.0\nfraud:\n  depth: 4\n")
    found = runs(repository)
    assert found["fraud"] is None and "parameter churn.C changed" in found["churn"]


def test_a_models_configuration_and_stage_definition(repository):
    config = repository / "pyproject.toml"
    config.write_text(config.read_text().replace('roc_auc = ">= 0.75"', 'roc_auc = ">= 0.8"'))
    found = runs(repository)
    assert found["fraud"] is None and "its configuration changed" in found["churn"]
    git(repository, "checkout", "-q", "--", "pyproject.toml")
    config.write_text(config.read_text().replace("resamples = 300", "resamples = 400"))
    assert all(runs(repository).values())  # the template changed: every model
    git(repository, "checkout", "-q", "--", "pyproject.toml")
    dvc = repository / "dvc.yaml"
    dvc.write_text(
        dvc.read_text().replace("python src/fraud/train.py", "python -O src/fraud/train.py")
    )
    found = runs(repository)
    assert found["churn"] is None and "dvc.yaml stage train_fraud changed" in found["fraud"]


def test_on_the_default_branch_a_model_without_a_passed_run_runs(repository):
    git(repository, "checkout", "-q", "main")
    found = runs(repository)
    assert found == {"churn": "no passed run yet", "fraud": "no passed run yet"}


def test_since_a_bad_ref_is_a_configuration_error(repository):
    with pytest.raises(ConfigError, match="not a commit"):
        affected_models(load_project(repository / "pyproject.toml"), since="no-such-ref")


def test_init_model_adds_a_model_from_the_template(repository, capsys):
    assert main(["init", str(repository), "--model", "ranking", "--task", "regression",
                 "--target", "score", "--owner", "search@example.com"]) == 0  # fmt: skip
    project = load_project(repository / "pyproject.toml")
    ranking = project.models["ranking"]
    assert (ranking.task, ranking.target, ranking.owners) == (
        "regression", "score", ("search@example.com",)
    )  # fmt: skip
    assert ranking.evaluation.resamples == 300  # inherited from the template
    assert {g.metric for g in ranking.gates} == {"latency.p95_ms", "r2"}
    assert "train_ranking:" in (repository / "dvc.yaml").read_text()
    assert (repository / "src" / "ranking" / "train.py").is_file()
    assert main(["init", str(repository), "--model", "ranking"]) == 2  # taken
    assert "already configured" in capsys.readouterr().err


def test_init_model_that_the_template_refuses_changes_nothing(repository, capsys):
    config = repository / "pyproject.toml"
    config.write_text(config.read_text().replace('tier = "medium"', 'tier = "high"', 1))
    before = config.read_text()
    # tier high needs approvers: a model added without owners cannot satisfy the template
    assert main(["init", str(repository), "--model", "ranking", "--task", "regression"]) == 2
    assert "approvers" in capsys.readouterr().err
    assert config.read_text() == before
    assert "train_ranking" not in (repository / "dvc.yaml").read_text()


def test_init_model_in_a_single_model_repository_says_how_to_split_it(tmp_path, capsys):
    from mlci_local.add_model import add_model

    write(tmp_path, '[tool.mlci]\nmodel = "one"\ntask = "regression"\ntarget = "y"\n'
          'artifact = "m.skops"\n')  # fmt: skip
    with pytest.raises(ConfigError, match=r"move its keys into \[tool.mlci.models.<its name>\]"):
        add_model(tmp_path, "two", task="regression", target="y")


def test_hooks_and_repository_wide_commands_read_every_model(repository, monkeypatch, capsys):
    """pre-commit hooks and `mlci check` / `mlci audit verify` need no --model: the hooks
    take the template's settings and every model's datasets, the commands every model."""
    from pytest_mlci.precommit import check_data_schema, check_ml_code

    monkeypatch.chdir(repository)
    settings = check_ml_code.load_settings(repository)
    assert settings.confidence == "high"
    assert check_ml_code.main(["src/churn/train.py"]) == 0
    assert check_data_schema.main(["README.md"]) == 0
    assert "configures" not in capsys.readouterr().err
    config = repository / "pyproject.toml"
    config.write_text(config.read_text().replace(
        'paths = ["src/fraud"]', 'paths = ["src/fraud"]\nstatic = { paths = ["src/fraud"] }'
    ))  # fmt: skip
    (repository / "src" / "fraud" / "train.py").write_text(
        "from sklearn.model_selection import train_test_split\n"
        "train, test = train_test_split(list(range(10)))\n"
    )
    assert main(["check"]) == 1  # fraud's static paths, found without --model
    assert "src/fraud/train.py" in capsys.readouterr().out


def test_status_and_metrics_without_model_cover_every_model(repository, monkeypatch, capsys):
    monkeypatch.chdir(repository)
    assert main(["metrics"]) == 0
    out = capsys.readouterr().out
    assert "delivery metrics for churn" in out and "delivery metrics for fraud-detector" in out
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "model churn @" in out and "model fraud-detector @" in out
    assert main(["--model", "churn", "metrics"]) == 0
    assert "fraud" not in capsys.readouterr().out
