"""Which kind of model an artifact is, and how to load it safely from bytes already checked.

The flavours people train with, each loaded by the library that wrote it:

* ``skops``: a ``.skops`` file (types outside skops' safe set must be listed in
  ``trusted_types``);
* ``pickle``: ``.pkl`` / ``.pickle`` / ``.joblib``, only with ``allow_pickle = true`` (loading a
  pickle runs code);
* ``xgboost``: a native XGBoost model file (``.ubj``, ``.json``, ``.xgb``, ``.bst``), loaded as
  ``XGBClassifier`` / ``XGBRegressor`` by the objective it was trained with;
* ``lightgbm``: a native LightGBM text model (``.txt``, ``.lgb``), see
  :class:`~pytest_mlci.model_adapters.LightGBMBoosterModel`;
* ``mlflow``: an MLflow model directory (it holds an ``MLmodel`` file). The flavours whose
  files we can read without unpickling are loaded by the native loaders above: scikit-learn
  and LightGBM models MLflow saved with skops, XGBoost's own format, LightGBM's text format.
  Anything else (PyTorch, a ``python_function`` model, a cloudpickled estimator) goes through
  ``mlflow.pyfunc.load_model``, which unpickles: it needs ``allow_pickle = true``, and the
  error names the files that make it so;
* ``custom``: ``predict = "module:function"`` for any other model, called as
  ``function(model, X)``, where ``model`` is what ``model_loader = "module:function"`` returns
  for the artifact's path (or, without one, the artifact loaded by its own flavour).

Everything loads from an :class:`ArtifactBytes`: the bytes that were hashed (a registered
version's files checked against its manifest, or the candidate read once), never the path
again, so a file cannot change between its check and its load. Loaders that only read paths
(``mlflow.pyfunc``, a user's ``model_loader``) get a private temporary copy of those bytes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pytest_mlci.errors import ConfigError, DataError

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
XGBOOST_SUFFIXES = (".ubj", ".xgb", ".bst")
LIGHTGBM_SUFFIXES = (".lgb", ".lgbm")
#: Files in an MLflow model directory that only an unpickler reads.
UNPICKLED_SUFFIXES = (*PICKLE_SUFFIXES, ".cloudpickle", ".pt", ".pth")
#: Library types skops may rebuild for LightGBM and XGBoost scikit-learn wrappers that MLflow
#: saved with skops: well-known estimator classes, not arbitrary callables.
LIBRARY_TYPES = (
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
)
MLMODEL = "MLmodel"
#: MLflow flavours whose own loader returns the library's estimator (with predict_proba).
NATIVE_MLFLOW_LOADERS = ("sklearn", "lightgbm")


@dataclass(frozen=True)
class ModelPolicy:
    """How the project's models are loaded: the config keys that decide it."""

    trusted_types: tuple[str, ...] = ()
    allow_pickle: bool = False
    flavour: str = "auto"
    model_loader: str | None = None
    predict: str | None = None
    task: str = "binary_classification"
    root: Path | None = None

    @classmethod
    def from_config(cls, config: Any) -> ModelPolicy:
        return cls(
            trusted_types=tuple(config.trusted_types),
            allow_pickle=bool(config.allow_pickle),
            flavour=getattr(config, "flavour", "auto"),
            model_loader=getattr(config, "model_loader", None),
            predict=getattr(config, "predict", None),
            task=config.task,
            root=config.root,
        )


@dataclass(frozen=True)
class ArtifactBytes:
    """A model artifact held in memory: one file (``data``) or a directory (``files``)."""

    name: str
    label: str
    data: bytes | None = None
    files: Mapping[str, bytes] | None = None

    @classmethod
    def read(cls, path: Path) -> ArtifactBytes:
        """Read the file, or every file of the directory, at ``path``."""
        path = Path(path)
        if path.is_dir():
            files = {
                p.relative_to(path).as_posix(): p.read_bytes()
                for p in sorted(path.rglob("*"))
                if p.is_file()
            }
            return cls(path.name, str(path), files=files)
        return cls(path.name, str(path), data=path.read_bytes())

    def write_to(self, folder: Path) -> Path:
        """A private copy of these bytes under ``folder``, for loaders that read paths."""
        target = Path(folder) / self.name
        if self.files is None:
            target.write_bytes(self.data or b"")
            return target
        for name, content in self.files.items():
            relative = PurePosixPath(name)
            if relative.is_absolute() or ".." in relative.parts:
                raise DataError(f"{self.label}: unsafe file name {name!r} in the model folder")
            out = target.joinpath(*relative.parts)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(content)
        return target


def detect(artifact: ArtifactBytes, policy: ModelPolicy) -> str:
    """The artifact's flavour: the configured one, else from its name and first bytes."""
    if policy.flavour != "auto":
        return policy.flavour
    if policy.predict:
        return "custom"
    if artifact.files is not None:
        if MLMODEL in artifact.files:
            return "mlflow"
        raise DataError(
            f"{artifact.label}: a model directory without an MLmodel file; save it with "
            "mlflow.<flavour>.save_model, or set flavour = 'custom' with predict = "
            "'module:function' (and model_loader) to load it yourself"
        )
    suffix = Path(artifact.name).suffix.lower()
    head = (artifact.data or b"")[:64]
    if suffix == ".skops":
        return "skops"
    if suffix in PICKLE_SUFFIXES:
        return "pickle"
    if suffix in XGBOOST_SUFFIXES or (suffix == ".json" and b'"learner"' in head):
        return "xgboost"
    if suffix in LIGHTGBM_SUFFIXES or (suffix in (".txt", ".model") and head.startswith(b"tree")):
        return "lightgbm"
    if suffix == ".model" and (head.startswith(b"{L") or b'"learner"' in head):
        return "xgboost"
    raise DataError(
        f"{artifact.label}: cannot tell which kind of model '{artifact.name}' is; use .skops, "
        ".pkl/.joblib (with allow_pickle = true), an XGBoost (.ubj/.json) or LightGBM (.txt) "
        "model file or an MLflow model directory, or set flavour = '...' in [tool.mlci]"
    )


def load(artifact: ArtifactBytes, policy: ModelPolicy) -> Any:
    """Load ``artifact`` by its flavour under ``policy``; :class:`DataError` says what is wrong."""
    flavour = detect(artifact, policy)
    if flavour == "custom":
        return _load_custom(artifact, policy)
    if flavour == "mlflow":
        return _load_mlflow(artifact, policy)
    if artifact.data is None:
        raise DataError(f"{artifact.label}: flavour '{flavour}' is a single file, not a directory")
    return load_file(artifact.data, artifact.name, flavour, policy, label=artifact.label)


def load_file(data: bytes, name: str, flavour: str, policy: ModelPolicy, *, label: str) -> Any:
    """One model file's bytes, by flavour."""
    try:
        if flavour == "skops":
            return _load_skops(data, policy.trusted_types, label)
        if flavour == "pickle":
            return _load_pickle(data, policy.allow_pickle, label)
        if flavour == "xgboost":
            return _load_xgboost(data)
        if flavour == "lightgbm":
            return _load_lightgbm(data)
    except (DataError, ConfigError):
        raise
    except ImportError as exc:
        raise DataError(
            f"{label}: the {flavour} flavour needs the '{exc.name}' package: pip install {exc.name}"
        ) from None
    except Exception as exc:
        text = str(exc).strip().splitlines()
        raise DataError(
            f"{label}: not a readable {flavour} model ({text[0] if text else type(exc).__name__})"
        ) from None
    raise DataError(f"{label}: unknown model flavour '{flavour}'")


# ---------------------------------------------------------------------- single files


def _load_skops(data: bytes, trusted_types: tuple[str, ...] | list[str], label: str) -> Any:
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # a corrupt zip or a non-skops file
        raise DataError(f"{label}: not a readable skops file ({exc})") from None
    unknown = sorted(set(untrusted) - set(trusted_types))
    if unknown:
        raise DataError(
            f"{label}: the model contains types skops does not trust by default: "
            f"{', '.join(unknown)}; if they are yours, list them in [tool.mlci] trusted_types"
        )
    return sio.loads(data, trusted=list(untrusted))


def _load_pickle(data: bytes, allow_pickle: bool, label: str) -> Any:
    if not allow_pickle:
        raise DataError(
            f"{label}: pickle files run code when loaded; save the model with skops "
            "(skops.io.dump) or set allow_pickle = true in [tool.mlci]"
        )
    import io

    import joblib

    return joblib.load(io.BytesIO(data))


def _load_xgboost(data: bytes) -> Any:
    """An ``XGBClassifier`` or ``XGBRegressor`` by the objective saved in the model."""
    import json

    import xgboost

    booster = xgboost.Booster()
    booster.load_model(bytearray(data))
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    if objective.startswith(("binary:", "multi:")):
        model = xgboost.XGBClassifier()
    elif objective.startswith("rank:"):
        model = xgboost.XGBRanker()
    else:
        model = xgboost.XGBRegressor()
    model.load_model(bytearray(data))
    return model


def _load_lightgbm(data: bytes) -> Any:
    import lightgbm

    from pytest_mlci.model_adapters import LightGBMBoosterModel

    return LightGBMBoosterModel(lightgbm.Booster(model_str=data.decode("utf-8")))


# ---------------------------------------------------------------------- MLflow directories


def _load_mlflow(artifact: ArtifactBytes, policy: ModelPolicy) -> Any:
    """An MLflow model directory: natively where its files allow, else through pyfunc."""
    import yaml

    files = artifact.files
    if files is None:
        raise DataError(f"{artifact.label}: an MLflow model is a directory with an MLmodel file")
    try:
        mlmodel = yaml.safe_load(files[MLMODEL].decode("utf-8")) or {}
        flavours = dict(mlmodel.get("flavors") or {})
    except (KeyError, UnicodeDecodeError, yaml.YAMLError, AttributeError, TypeError) as exc:
        raise DataError(f"{artifact.label}/MLmodel: not a readable MLmodel file ({exc})") from None
    native = _native_mlflow_file(flavours, files)
    if native is not None:
        name, flavour, trusted = native
        return load_file(
            files[name],
            name,
            flavour,
            ModelPolicy(
                trusted_types=(*policy.trusted_types, *trusted), allow_pickle=policy.allow_pickle
            ),
            label=f"{artifact.label}/{name}",
        )
    unpickled = sorted(n for n in files if n.lower().endswith(UNPICKLED_SUFFIXES))
    if unpickled and not policy.allow_pickle:
        raise DataError(
            f"{artifact.label}: this MLflow model ({', '.join(sorted(flavours)) or 'no flavour'})"
            f" is loaded by unpickling {', '.join(unpickled[:3])}, which runs code; set "
            "allow_pickle = true in [tool.mlci] if the model comes only from your own pipeline "
            "(or log scikit-learn models with serialization_format='skops')"
        )
    for name in NATIVE_MLFLOW_LOADERS:
        if name in flavours:
            return _load_with_mlflow(artifact, name)
    if "python_function" not in flavours:
        raise DataError(
            f"{artifact.label}: this MLflow model has no python_function flavour "
            f"({', '.join(sorted(flavours))}); pytest-mlci scores models through pyfunc"
        )
    return _load_pyfunc(artifact, policy)


def _native_mlflow_file(
    flavours: Mapping[str, Any], files: Mapping[str, bytes]
) -> tuple[str, str, tuple[str, ...]] | None:
    """``(file, flavour, extra trusted types)`` for an MLflow model we can read natively."""
    sklearn = flavours.get("sklearn") or {}
    if sklearn.get("serialization_format") == "skops" and sklearn.get("pickled_model") in files:
        return str(sklearn["pickled_model"]), "skops", ()
    xgb = flavours.get("xgboost") or {}
    if xgb.get("data") in files and str(xgb.get("model_format", "")) in ("ubj", "json", "xgb"):
        return str(xgb["data"]), "xgboost", ()
    lgb = flavours.get("lightgbm") or {}
    data = lgb.get("data")
    if data in files and lgb.get("serialization_format") == "skops" and data.endswith(".skops"):
        return str(data), "skops", LIBRARY_TYPES
    if data in files and str(lgb.get("model_class", "")).endswith("Booster"):
        return str(data), "lightgbm", ()
    return None


def _load_with_mlflow(artifact: ArtifactBytes, flavour: str) -> Any:
    """The library's own object through ``mlflow.<flavour>.load_model`` (allowed to unpickle):
    a scikit-learn-style estimator keeps its ``predict_proba``, which pyfunc would hide."""
    import importlib

    from pytest_mlci.model_adapters import LightGBMBoosterModel

    holder = tempfile.TemporaryDirectory(prefix="mlci-model-")
    try:
        folder = artifact.write_to(Path(holder.name))
        model = importlib.import_module(f"mlflow.{flavour}").load_model(str(folder))
    except Exception as exc:
        text = str(exc).strip().splitlines()
        raise DataError(
            f"{artifact.label}: MLflow could not load this {flavour} model "
            f"({type(exc).__name__}: {text[0] if text else ''})"
        ) from None
    finally:
        holder.cleanup()  # these loaders read everything into memory
    if type(model).__name__ == "Booster" and type(model).__module__.startswith("lightgbm"):
        return LightGBMBoosterModel(model)
    return model


def _load_pyfunc(artifact: ArtifactBytes, policy: ModelPolicy) -> Any:
    import mlflow.pyfunc

    from pytest_mlci.model_adapters import PyfuncModel

    holder = tempfile.TemporaryDirectory(prefix="mlci-model-")
    folder = artifact.write_to(Path(holder.name))
    try:
        pyfunc = mlflow.pyfunc.load_model(str(folder))
    except Exception as exc:
        holder.cleanup()
        text = str(exc).strip().splitlines()
        raise DataError(
            f"{artifact.label}: MLflow could not load this model "
            f"({type(exc).__name__}: {text[0] if text else ''})"
        ) from None
    return PyfuncModel(pyfunc, policy.task, keep_alive=holder)


# ---------------------------------------------------------------------- custom


def _load_custom(artifact: ArtifactBytes, policy: ModelPolicy) -> Any:
    from pytest_mlci.importing import import_object
    from pytest_mlci.model_adapters import CustomModel

    root = policy.root or Path.cwd()
    if not policy.predict:
        raise ConfigError(
            "flavour = 'custom' needs predict = 'module:function' (called as predict(model, X))",
            key="predict",
        )
    predict = import_object(policy.predict, root=root, key="predict", example="serve:predict")
    if not callable(predict):
        raise ConfigError(f"'{policy.predict}' is not a function", key="predict")
    holder = None
    if policy.model_loader:
        loader = import_object(
            policy.model_loader, root=root, key="model_loader", example="serve:load"
        )
        holder = tempfile.TemporaryDirectory(prefix="mlci-model-")
        path = artifact.write_to(Path(holder.name))
        try:
            model = loader(path)
        except Exception as exc:
            holder.cleanup()
            raise DataError(
                f"{artifact.label}: model_loader '{policy.model_loader}' failed: "
                f"{type(exc).__name__}: {exc}"
            ) from None
    else:
        own = ModelPolicy(
            trusted_types=policy.trusted_types,
            allow_pickle=policy.allow_pickle,
            task=policy.task,
            root=policy.root,
        )
        model = load(artifact, own)
    return CustomModel(model, predict, policy.task, keep_alive=holder)
