"""The registry's store is checked against the registered manifest wherever a model is used.

A byte flipped in the store after an earlier verified load must stop staging, the pytest
baseline and serving, with the file, both sha256 and the version named; an untouched store
still works, and a remote store's cached copy still saves the download. A copied workspace
reads its own files, not the original's.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlci_local.cli import cli
from mlci_local.promotion import ledger_for, promote
from mlci_local.registry import Registry
from pytest_mlci import artifact_check
from pytest_mlci.config import load_config
from pytest_mlci.errors import DataError
from pytest_mlci.model_io import sha256_file


@pytest.fixture
def embedded(tiny_dir):
    """The embedded default (sqlite registry, artifacts under .mlci/)."""
    return load_config(tiny_dir.root / "pyproject.toml")


def register(config, source: Path, *, production: bool = False):
    """Register ``source`` with passing evaluation and staging records; promote if asked."""
    shutil.copy(source, config.artifact)
    digest = sha256_file(config.artifact)
    registry, ledger = Registry(config), ledger_for(config)
    version = registry.register(config.artifact, digest, tags={}).version
    for action in ("evaluation", "staging"):
        ledger.append(action, {"model": config.model, "digest": digest, "passed": True})
    if production:
        promote(config, registry, ledger, version.version)
    return version


def stored_file(config, version) -> Path:
    folder = artifact_check.local_store(version, config.state_dir)
    assert folder is not None and folder.is_relative_to(config.state_dir)
    return folder / "model.skops"


def flip_a_byte(path: Path) -> str:
    """Flip one bit in the middle of ``path`` (same size); return the new sha256."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return sha256_file(path)


def mismatch(version, actual: str) -> list[str]:
    """What every refusal names: the version, the file and both digests."""
    return [
        f"v{version.version}",
        "model.skops: sha256",
        f"sha256 {actual[:12]} does not match the registered manifest's {version.digest[:12]}",
    ]


# ------------------------------------------------------------------------ staging


@pytest.mark.slow
def test_mlci_stage_refuses_a_store_tampered_after_a_verified_load(embedded, tiny_assets):
    from mlci_local.staging import validate_staging

    version = register(embedded, tiny_assets / "good.skops")
    Registry(embedded).set_alias("candidate", version.version)
    assert validate_staging(embedded, "candidate").digest == version.digest  # verified once
    actual = flip_a_byte(stored_file(embedded, version))
    result = CliRunner().invoke(cli, ["--config", str(embedded.source), "stage"])
    assert result.exit_code == 1, result.output
    for words in mismatch(version, actual):
        assert words in result.output
    assert "staging ok" not in result.output
    assert Registry(embedded).by_alias("staging") is None


# ------------------------------------------------------------------------ the pytest baseline


BASELINE_TEST = """
def test_the_baseline_predicts(mlci_baseline, mlci_data):
    assert len(mlci_baseline.predict(mlci_data.drop(columns=["label"]))) == len(mlci_data)
"""


def test_the_pytest_baseline_refuses_a_tampered_store(pytester, tiny_project, tiny_assets):
    config = load_config(tiny_project.root / "pyproject.toml")
    version = register(config, tiny_assets / "good.skops", production=True)
    tiny_project.set_gate("f1", ">= baseline - 0.5")
    pytester.makepyfile(test_baseline=BASELINE_TEST)
    first = pytester.runpytest("--mlci", "-p", "no:cacheprovider")
    first.assert_outcomes(passed=first.parseoutcomes()["passed"])  # verified load: all pass
    actual = flip_a_byte(stored_file(config, version))
    second = pytester.runpytest("--mlci", "-p", "no:cacheprovider")
    second.assert_outcomes(passed=2, failed=2, errors=1)  # fixture, gate, session status
    second.stdout.fnmatch_lines(["*ERROR at setup of test_the_baseline_predicts*",
                                 "*mlci gate f1 >= baseline - 0.5*"])  # fmt: skip
    output = second.stdout.str()
    for words in mismatch(version, actual):
        assert output.count(words) >= 2  # the fixture and the gate both say why


def test_the_baseline_fixture_fails_with_the_mismatch_named(embedded, tiny_assets):
    from pytest_mlci.evaluation.session import Evaluation
    from pytest_mlci.fixtures import _user_error

    version = register(embedded, tiny_assets / "good.skops", production=True)
    assert Evaluation(embedded).baseline.digest == version.digest
    actual = flip_a_byte(stored_file(embedded, version))
    with pytest.raises(pytest.fail.Exception) as refused:
        _user_error(lambda: Evaluation(embedded).baseline)
    for words in mismatch(version, actual):
        assert words in str(refused.value)


# ------------------------------------------------------------------------ serving


def test_serving_refuses_a_tampered_production_and_says_so_in_health(embedded, tiny_assets, caplog):
    from mlci_local.rollout.router import Router

    version = register(embedded, tiny_assets / "good.skops", production=True)
    assert Router(embedded).ensure_production().version == version.version  # verified once
    actual = flip_a_byte(stored_file(embedded, version))
    router = Router(embedded)
    assert router.ensure_production() is None
    status, health = router.health()
    assert status == 503 and health["status"] == "unavailable"
    for words in mismatch(version, actual):
        assert words in health["production"]["error"]
    logged = [r.getMessage() for r in caplog.records if r.name == "mlci.router"]
    assert any(f"tiny: refusing to serve v{version.version}: " in m and actual[:12] in m
               for m in logged), logged  # fmt: skip


def test_serving_keeps_the_verified_version_rather_than_switch_to_a_tampered_one(
    embedded, tiny_assets
):
    from mlci_local.rollout.router import Router

    v1 = register(embedded, tiny_assets / "good.skops", production=True)
    router = Router(embedded)
    assert router.ensure_production().version == v1.version
    v2 = register(embedded, tiny_assets / "bad.skops", production=True)
    actual = flip_a_byte(stored_file(embedded, v2))  # after promotion's own check
    loaded = router.ensure_production(force=True)
    assert loaded is not None and loaded.version == v1.version  # still the verified v1
    status, health = router.health()
    assert status == 200 and health["production"]["version"] == v1.version
    for words in mismatch(v2, actual):
        assert words in health["production"]["error"]


def test_mlci_serve_starts_without_a_tampered_production_and_says_why(
    embedded, tiny_assets, monkeypatch
):
    import uvicorn

    version = register(embedded, tiny_assets / "good.skops", production=True)
    actual = flip_a_byte(stored_file(embedded, version))
    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.append(app))
    result = CliRunner().invoke(cli, ["--config", str(embedded.source), "serve"])
    assert result.exit_code == 0, result.output
    assert "production not loaded" in result.output
    for words in mismatch(version, actual):
        assert words in result.output
    (app,) = served
    assert app.state.router.production is None  # /health answers 503; nothing tampered served


# ------------------------------------------------------------------------ the check itself


def test_an_untampered_local_store_loads_and_is_hashed_on_every_use(
    embedded, tiny_assets, tmp_path, monkeypatch
):
    version = register(embedded, tiny_assets / "good.skops")
    hashed: list[str] = []
    original = artifact_check._hash_folder

    def counting(version, folder, where, filename, manifest):
        hashed.append(where)
        return original(version, folder, where, filename, manifest)

    monkeypatch.setattr(artifact_check, "_hash_folder", counting)
    for _ in range(3):
        model = artifact_check.load_verified(version, tmp_path, registry_uri=embedded.registry_uri,
                                             state_dir=embedded.state_dir)  # fmt: skip
        assert hasattr(model, "predict_proba")
    assert len(hashed) == 3  # the check is never skipped


def test_the_loaded_bytes_are_the_hashed_bytes(embedded, tiny_assets, tmp_path):
    """A file swapped after the check cannot be what gets loaded: the load reads memory."""
    version = register(embedded, tiny_assets / "good.skops")
    checked = artifact_check.verify(version, tmp_path, registry_uri=embedded.registry_uri,
                                    state_dir=embedded.state_dir)  # fmt: skip
    assert checked.data == (tiny_assets / "good.skops").read_bytes()
    assert checked.path.read_bytes() == checked.data


def test_an_extra_or_missing_file_in_the_store_is_refused(embedded, tiny_assets, tmp_path):
    version = register(embedded, tiny_assets / "good.skops")
    model = stored_file(embedded, version)
    (model.parent / "sitecustomize.py").write_text("print('surprise')\n")
    with pytest.raises(DataError, match=r"not in the registered manifest: sitecustomize\.py"):
        artifact_check.verify(version, tmp_path, registry_uri=embedded.registry_uri)
    (model.parent / "sitecustomize.py").unlink()
    model.unlink()
    with pytest.raises(DataError, match=r"model\.skops: listed in the manifest but missing"):
        artifact_check.verify(version, tmp_path, registry_uri=embedded.registry_uri)


# ------------------------------------------------------------------------ copied workspace


def test_new_versions_record_their_location_relative_to_the_workspace(embedded, tiny_assets):
    version = register(embedded, tiny_assets / "good.skops")
    relative = version.tags[artifact_check.TAG_LOCATION]
    assert not Path(relative).is_absolute() and relative.startswith("artifacts/")
    assert (embedded.state_dir / relative / "model.skops").is_file()


@pytest.mark.slow
def test_a_copied_workspace_stages_serves_and_registers_with_its_own_files(
    tiny_dir, tiny_assets, tmp_path
):
    from mlci_local.rollout.router import Router
    from mlci_local.staging import validate_staging

    original = load_config(tiny_dir.root / "pyproject.toml")
    v1 = register(original, tiny_assets / "good.skops", production=True)
    Registry(original).set_alias("candidate", v1.version)
    copy_root = tmp_path / "copied"
    shutil.copytree(tiny_dir.root, copy_root)
    shutil.rmtree(original.state_dir)  # the original's store is gone
    copied = load_config(copy_root / "pyproject.toml")

    assert validate_staging(copied, "candidate").digest == v1.digest
    assert Router(copied).ensure_production().version == v1.version
    v2 = register(copied, tiny_assets / "bad.skops")  # writes go to the copy too
    assert stored_file(copied, v2).is_file()
    Registry(copied).attach_files(v1.version, {"card.md": "# v1"}, "model_card")
    (tmp_path / "d").mkdir()
    fetched = Registry(copied).download_run_folder(v1.run_id, "model_card", str(tmp_path / "d"))
    assert (fetched / "card.md").read_text() == "# v1"
    assert not original.state_dir.exists()  # nothing was written to, or read from, the original
    # And a byte flipped in the copy's store is caught there.
    actual = flip_a_byte(stored_file(copied, v1))
    with pytest.raises(DataError) as refused:
        artifact_check.verify(v1, tmp_path / "c", registry_uri=copied.registry_uri,
                              state_dir=copied.state_dir)  # fmt: skip
    for words in mismatch(v1, actual):
        assert words in str(refused.value)


def test_a_version_without_the_relative_tag_is_found_in_the_copy_by_its_layout(tmp_path):
    """Versions registered before the tag existed carry only MLflow's absolute location."""
    run = uuid.uuid4().hex
    old = tmp_path / "old" / ".mlci" / "artifacts" / "1" / run / "artifacts" / "model"
    state = tmp_path / "new" / ".mlci"
    here = state / "artifacts" / "1" / run / "artifacts" / "model"
    assert artifact_check.workspace_path(old, state) == old  # nothing here yet: as recorded
    here.mkdir(parents=True)
    assert artifact_check.workspace_path(old, state) == here
    elsewhere = tmp_path / "models" / "model"  # not mlci's layout: kept as recorded
    assert artifact_check.workspace_path(elsewhere, state) == elsewhere
    assert artifact_check.workspace_path(old, state, must_exist=False) == here


# ------------------------------------------------------------------------ a remote store


@pytest.fixture
def server(tiny_dir, team_stack, fresh_database):
    tiny_dir.model = f"tiny-{uuid.uuid4().hex[:8]}"
    tiny_dir.extra += f'registry = "{team_stack.mlflow}"\ndatabase = "{fresh_database}"\n'
    tiny_dir.write_config()
    return load_config(tiny_dir.root / "pyproject.toml")


def s3_object(stack_module, team_stack, version):
    """The S3 object behind a proxied ``mlflow-artifacts:`` source (bucket, key, client)."""
    import boto3

    assert version.source.startswith("mlflow-artifacts:/")
    key = "artifacts/" + version.source.removeprefix("mlflow-artifacts:/").lstrip("/")
    client = boto3.client("s3", endpoint_url=team_stack.s3, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    return stack_module.BUCKET, f"{key}/model.skops", client


def test_server_cache_saves_the_download_but_not_the_check(
    server, tiny_assets, tmp_path, monkeypatch, team_stack, stack_module
):
    import hashlib

    import mlflow.artifacts

    version = register(server, tiny_assets / "good.skops")
    downloads, listings = [], []
    download, listing = mlflow.artifacts.download_artifacts, mlflow.artifacts.list_artifacts
    monkeypatch.setattr(mlflow.artifacts, "download_artifacts",
                        lambda **kw: downloads.append(1) or download(**kw))  # fmt: skip
    monkeypatch.setattr(mlflow.artifacts, "list_artifacts",
                        lambda **kw: listings.append(1) or listing(**kw))  # fmt: skip
    for _ in range(3):
        artifact_check.load_verified(version, tmp_path, registry_uri=server.registry_uri)
    assert len(downloads) == 1  # the cache saved two downloads
    assert len(listings) == 3  # the store was asked every time

    bucket, key, s3 = s3_object(stack_module, team_stack, version)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read() + b"\0"  # another size
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    with pytest.raises(DataError) as refused:
        artifact_check.load_verified(version, tmp_path, registry_uri=server.registry_uri)
    for words in mismatch(version, hashlib.sha256(body).hexdigest()):
        assert words in str(refused.value)


def test_server_same_size_edit_needs_a_download_to_be_seen(
    server, tiny_assets, tmp_path, monkeypatch, team_stack, stack_module
):
    """The documented limit of the listing check, and the setting that closes it."""
    import hashlib

    version = register(server, tiny_assets / "good.skops")
    artifact_check.verify(version, tmp_path, registry_uri=server.registry_uri)
    bucket, key, s3 = s3_object(stack_module, team_stack, version)
    body = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0x01
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(body))
    # Sizes match the verified cache: the listing cannot tell (the cache copy is still good).
    artifact_check.verify(version, tmp_path, registry_uri=server.registry_uri)
    monkeypatch.setenv(artifact_check.CHECK_ENV, "download")
    with pytest.raises(DataError) as refused:
        artifact_check.verify(version, tmp_path, registry_uri=server.registry_uri)
    for words in mismatch(version, hashlib.sha256(bytes(body)).hexdigest()):
        assert words in str(refused.value)
    # Promotion always downloads afresh, so the tampered version cannot reach production.
    with pytest.raises(DataError, match="does not match the registered"):
        promote(server, Registry(server), ledger_for(server), version.version)


def test_server_router_refuses_a_version_whose_store_changed(
    server, tiny_assets, team_stack, stack_module
):
    from mlci_local.rollout.router import Router

    version = register(server, tiny_assets / "good.skops", production=True)
    assert Router(server).ensure_production().version == version.version  # cached, verified
    bucket, key, s3 = s3_object(stack_module, team_stack, version)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()[:-1]  # truncated
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    router = Router(server)
    assert router.ensure_production() is None
    status, health = router.health()
    assert status == 503
    assert "model.skops: sha256" in health["production"]["error"]
    assert f"manifest's {version.digest[:12]}" in health["production"]["error"]
