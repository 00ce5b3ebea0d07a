""" "Same model" is decided by content, not bytes: skops writes one model differently every time.

A forced retrain of an unchanged model (a CI runner without a DVC cache, `dvc repro -f`) must
register nothing and start no canary, while every integrity check stays on the exact bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pytest_mlci.config import load_config
from pytest_mlci.content_digest import content_digest
from pytest_mlci.model_io import sha256_file


def fitted(c: float = 1.0):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.5, size=200) > 0).astype(int)
    return make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(X, y)


def dump(model, path: Path) -> Path:
    import skops.io as sio

    sio.dump(model, path)
    return path


def rewrite(source: Path, target: Path, change=lambda name, data: data, **zip_options) -> Path:
    """``source``'s members, in reverse order, freshly timestamped, each passed to ``change``."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", **zip_options) as new:
        for name in reversed(old.namelist()):
            new.writestr(name, change(name, old.read(name)))
    return target


def test_two_dumps_of_one_model_differ_in_bytes_but_not_in_content(tmp_path):
    model = fitted()
    first = dump(model, tmp_path / "a.skops")
    again = dump(fitted(), tmp_path / "b.skops")  # refitted: what a retrain writes

    assert sha256_file(first) != sha256_file(again)
    assert content_digest(first) == content_digest(again)


def test_zip_order_timestamps_and_compression_do_not_change_the_content(tmp_path):
    first = dump(fitted(), tmp_path / "a.skops")
    repacked = rewrite(first, tmp_path / "b.skops", compression=zipfile.ZIP_DEFLATED)

    assert sha256_file(first) != sha256_file(repacked)
    assert content_digest(first) == content_digest(repacked)


def test_other_coefficients_are_another_model(tmp_path):
    first = dump(fitted(c=1.0), tmp_path / "a.skops")
    other = dump(fitted(c=0.01), tmp_path / "b.skops")

    assert content_digest(first) != content_digest(other)


def test_a_tampered_byte_in_an_array_member_changes_the_content(tmp_path):
    first = dump(fitted(), tmp_path / "a.skops")

    def flip_last_byte_of_one_array(name, data):
        if name.endswith(".npy") and not flip_last_byte_of_one_array.done:
            flip_last_byte_of_one_array.done = True
            return data[:-1] + bytes([data[-1] ^ 1])
        return data

    flip_last_byte_of_one_array.done = False
    tampered = rewrite(first, tmp_path / "b.skops", flip_last_byte_of_one_array)

    assert flip_last_byte_of_one_array.done
    assert content_digest(first) != content_digest(tampered)


def test_a_changed_schema_value_changes_the_content(tmp_path):
    first = dump(fitted(), tmp_path / "a.skops")

    def other_step_name(name, data):
        return data.replace(b'"\\"standardscaler\\""', b'"\\"standardscalex\\""')

    tampered = rewrite(first, tmp_path / "b.skops", other_step_name)
    assert zipfile.ZipFile(first).read("schema.json") != zipfile.ZipFile(tampered).read(
        "schema.json"
    )
    assert content_digest(first) != content_digest(tampered)


def test_object_ids_are_renumbered_but_shared_references_still_count(tmp_path):
    """Two nodes with one id (one shared object) are not two nodes with two ids."""
    first = dump(fitted(), tmp_path / "a.skops")
    schema = json.loads(zipfile.ZipFile(first).read("schema.json"))
    ids = []

    def collect(node):
        if isinstance(node, dict):
            if isinstance(node.get("__id__"), int):
                ids.append(node["__id__"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(schema)
    distinct = list(dict.fromkeys(ids))
    a, b = distinct[-2], distinct[-1]
    merged = re.sub(rf'"__id__": {b}\b', f'"__id__": {a}', json.dumps(schema)).encode()
    shared = rewrite(
        first, tmp_path / "b.skops", lambda name, data: merged if name == "schema.json" else data
    )
    # Renumbering every id by a constant keeps the pattern, hence the content.
    shifted_schema = re.sub(
        r'"__id__": (\d+)', lambda m: f'"__id__": {int(m[1]) + 7}', json.dumps(schema)
    )
    shifted = rewrite(
        first,
        tmp_path / "c.skops",
        lambda name, data: shifted_schema.encode() if name == "schema.json" else data,
    )

    assert content_digest(shifted) == content_digest(first)
    assert content_digest(shared) != content_digest(first)


def test_pickles_and_unreadable_skops_files_are_identified_by_their_exact_bytes(tmp_path):
    import joblib

    pickled = tmp_path / "model.joblib"
    joblib.dump(fitted(), pickled)
    broken = tmp_path / "model.skops"
    broken.write_bytes(b"not a zip at all")

    assert content_digest(pickled) == sha256_file(pickled)
    assert content_digest(broken) == sha256_file(broken)


# --------------------------------------------------------------------------------- registration


def test_registering_the_same_model_as_other_bytes_returns_the_registered_version(
    tiny_dir, tiny_assets
):
    import skops.io as sio

    from mlci_local.registry import Registry

    config = load_config(tiny_dir.root / "pyproject.toml")
    registry = Registry(config)
    first = registry.register(config.artifact, sha256_file(config.artifact), tags={})
    same = sio.loads(
        config.artifact.read_bytes(), trusted=sio.get_untrusted_types(file=config.artifact)
    )
    sio.dump(same, config.artifact)  # the same model, written again: other bytes
    new_bytes = sha256_file(config.artifact)
    again = registry.register(config.artifact, new_bytes, tags={})

    assert new_bytes != first.version.digest
    assert first.created and not again.created
    assert again.version.version == first.version.version
    # Integrity stays on the registered bytes; identity is recorded beside them.
    assert again.version.digest == first.version.digest
    assert again.version.content_digest == content_digest(config.artifact)

    shutil.copy(tiny_assets / "bad.skops", config.artifact)
    other = registry.register(config.artifact, sha256_file(config.artifact), tags={})
    assert other.created and other.version.version != first.version.version


def test_a_run_registering_the_same_model_as_other_bytes_goes_on_with_the_registered_bytes(
    tiny_dir,
):
    import skops.io as sio

    from mlci_local.pipeline import Pipeline
    from mlci_local.registry import Registry

    config = load_config(tiny_dir.root / "pyproject.toml")
    registered = Registry(config).register(config.artifact, sha256_file(config.artifact), tags={})
    sio.dump(
        sio.loads(
            config.artifact.read_bytes(), trusted=sio.get_untrusted_types(file=config.artifact)
        ),
        config.artifact,
    )
    pipeline = Pipeline(config, echo=lambda line: None)

    status, detail = pipeline.stage_register()

    assert status == "up to date"
    assert detail == (
        f"v{registered.version.version} already holds this model (same content digest, "
        "other bytes); no new version"
    )
    # Staging, promotion and the canary look for records of the registered bytes.
    assert pipeline.ctx.digest == registered.version.digest
    assert [v.version for v in Registry(config).versions()] == [registered.version.version]


# ------------------------------------------------------------------------------------ end to end


@pytest.mark.slow  # trains the bundled example twice through `dvc repro`
def test_a_retrain_without_the_dvc_cache_registers_nothing(tmp_path):
    from tests.example_repo import example_repository, mlci

    example = example_repository(tmp_path / "example")
    first = mlci(example, "run")
    assert first.returncode == 0, first.stdout + first.stderr
    registered = sha256_file(example / "models" / "model.skops")

    # What a CI runner without a DVC cache does on every push: train again from scratch.
    shutil.rmtree(example / ".dvc" / "cache")
    (example / "models" / "model.skops").unlink()
    again = mlci(example, "run")

    out = again.stdout
    assert again.returncode == 0, out + again.stderr
    assert "trained: dvc repro ran" in out
    # The example writes skops zips canonically (its dvc.lock is committed), so the retrain
    # is the same bytes; other bytes of one model are test_registering_the_same_model_...
    assert sha256_file(example / "models" / "model.skops") == registered
    assert "holds this model (same content digest) and is production; nothing new to register" in (
        out
    )
    assert "canary" not in out
    assert json.loads(mlci(example, "status", "--json").stdout)["versions"] == ["1"]


def test_content_digest_reads_no_more_than_the_zip_it_is_given():
    """Bytes that are a zip without schema.json are not a skops model: exact bytes decide."""
    from pytest_mlci.content_digest import skops_content_digest

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("1.npy", b"x")
    assert skops_content_digest(buffer.getvalue()) is None


def test_cloudpickles_class_ids_do_not_change_the_content_but_the_model_does():
    """MLflow cloudpickles a python_function model; cloudpickle tags a class defined in the
    training script with a fresh uuid in every process. Two such saves are one model."""
    import cloudpickle

    from pytest_mlci.content_digest import pickle_content_digest

    def defined_in_a_script(weight: float):
        # a class made at run time is pickled by value, with its own tracker id
        return type("Scorer", (), {"weight": weight, "__module__": "__main__"})

    first = cloudpickle.dumps(defined_in_a_script(0.5)())
    again = cloudpickle.dumps(defined_in_a_script(0.5)())
    other = cloudpickle.dumps(defined_in_a_script(0.25)())

    assert first != again
    assert pickle_content_digest(first) == pickle_content_digest(again)
    assert pickle_content_digest(first) != pickle_content_digest(other)
    assert pickle_content_digest(b"not a pickle") == hashlib.sha256(b"not a pickle").hexdigest()


def test_skops_save_writes_one_model_as_the_same_bytes(tmp_path):
    """The public byte-stable save: for projects that commit the dvc.lock naming the model."""
    import skops.io as sio

    from pytest_mlci.skops_save import canonical_bytes, dump

    first = dump(fitted(), tmp_path / "a.skops")
    again = dump(fitted(), tmp_path / "deep" / "b.skops")
    plain = sio.dumps(fitted())

    assert first.read_bytes() == again.read_bytes()
    assert canonical_bytes(plain) == first.read_bytes()
    from pytest_mlci.content_digest import skops_content_digest

    assert content_digest(first) == skops_content_digest(plain)
    loaded = sio.loads(first.read_bytes(), trusted=sio.get_untrusted_types(file=first))
    X = np.random.default_rng(1).normal(size=(20, 4))
    assert np.array_equal(loaded.predict_proba(X), fitted().predict_proba(X))
