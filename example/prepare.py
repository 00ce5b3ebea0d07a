"""DVC stage ``prepare``: generate the example's data and split it into train, reference and test.

The three files play different roles, which is why they are drawn the way they are:

* ``train.parquet`` is the only data the model ever sees;
* ``reference.parquet`` is held out from the *same* draw as training, so it is what "no drift"
  looks like: drift checks compare the current data against it;
* ``test.parquet`` is the current data the candidate is evaluated on. It is drawn separately,
  with the ``drift`` knob applied, so tests can make today's traffic differ from the reference.

``group_bias`` and ``leakage`` describe how the data was collected, so they apply to every split.
Every draw is seeded from ``prepare.seed``: the same params give byte-identical files.

Run as ``python -m example.prepare [--params params.yaml] [--out data]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from example.generate import generate

DEFAULTS: dict[str, Any] = {
    "rows": 60000,
    "seed": 42,
    "drift": 0.0,
    "group_bias": 0.0,
    "leakage": False,
    "test_fraction": 0.3,
    "reference_fraction": 0.3,
}
SPLITS = ("train", "reference", "test")


def load_params(path: str | Path, section: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Read one section of ``params.yaml`` over ``defaults``; unknown keys are an error.

    A typo such as ``test_fracton`` would otherwise be ignored silently and the stage would
    run with the default, which is exactly the kind of quiet mistake this project exists to stop.
    """
    with open(path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle) or {}
    given = document.get(section) or {}
    if not isinstance(given, Mapping):
        raise ValueError(f"{path}: '{section}' must be a mapping, got {type(given).__name__}")
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(
            f"{path}: unknown key(s) in '{section}': {unknown}; valid: {list(defaults)}"
        )
    return {**defaults, **given}


def _child_seed(seed: int, stream: int) -> int:
    # Independent, reproducible streams for the pooled draw and the test draw: seed and seed + 1
    # would also work, but would make the test split of seed 42 the training pool of seed 43.
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


def split(params: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """Return the ``train``, ``reference`` and ``test`` frames described by ``params``."""
    rows = int(params["rows"])
    test_fraction = float(params["test_fraction"])
    reference_fraction = float(params["reference_fraction"])
    if not (0 < test_fraction < 1 and 0 < reference_fraction < 1):
        raise ValueError("test_fraction and reference_fraction must each be between 0 and 1")
    if test_fraction + reference_fraction >= 1:
        raise ValueError("test_fraction + reference_fraction must leave rows for training")
    n_test = round(rows * test_fraction)
    n_reference = round(rows * reference_fraction)
    n_train = rows - n_test - n_reference
    if min(n_train, n_test, n_reference) < 1:
        raise ValueError(f"rows={rows} is too few to split into train, reference and test")

    seed = int(params["seed"])
    knobs = {"group_bias": float(params["group_bias"]), "leakage": bool(params["leakage"])}
    # Reference and train come from one undrifted draw, shuffled apart, so they share a
    # distribution exactly; the test rows are a second draw with the drift knob turned.
    pool = generate(n_train + n_reference, _child_seed(seed, 0), drift=0.0, **knobs)
    order = np.random.default_rng(_child_seed(seed, 1)).permutation(len(pool))
    train = pool.iloc[order[:n_train]].reset_index(drop=True)
    reference = pool.iloc[order[n_train:]].reset_index(drop=True)
    test = generate(n_test, _child_seed(seed, 2), drift=float(params["drift"]), **knobs)
    return {"train": train, "reference": reference, "test": test}


def write(frames: Mapping[str, pd.DataFrame], out_dir: str | Path) -> dict[str, Path]:
    """Write each frame to ``<out_dir>/<name>.parquet`` with pyarrow; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in frames.items():
        path = out / f"{name}.parquet"
        frame.to_parquet(path, engine="pyarrow", index=False)
        paths[name] = path
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the DVC stage."""
    parser = argparse.ArgumentParser(
        prog="python -m example.prepare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--params", default="params.yaml", help="params file (default: %(default)s)"
    )
    parser.add_argument("--out", default="data", help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)

    params = load_params(args.params, "prepare", DEFAULTS)
    frames = split(params)
    for name, path in write(frames, args.out).items():
        frame = frames[name]
        print(f"{path}: {len(frame)} rows, positive rate {frame['converted'].mean():.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
