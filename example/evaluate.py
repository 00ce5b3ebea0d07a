"""DVC stage ``evaluate``: score the saved model on the test split into ``metrics/eval.json``.

This is the number ``dvc metrics show`` prints and ``dvc metrics diff`` compares between commits;
the gates of pytest-mlci compute their own metrics through the plugin, but both read the same test
split so the figures agree.

The model is loaded with skops, which refuses types it does not know. The types the file needs
are listed with ``skops.io.get_untrusted_types`` and trusted explicitly: this file was written by
our own ``train`` stage a moment ago. Do not reuse that shortcut for models from elsewhere.

Run as ``python -m example.evaluate [--model models/model.skops] [--data data/test.parquet]
[--out metrics/eval.json]``.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import skops.io as sio
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from example.generate import TARGET

# Predicted probability at or above which a visitor is called a converter.
THRESHOLD = 0.5


def load_model(path: str | Path) -> Any:
    """Load a skops file written by ``example.train``, trusting the types it declares."""
    return sio.load(path, trusted=sio.get_untrusted_types(file=path))


def evaluate(model: Any, frame: pd.DataFrame) -> dict[str, float | int]:
    """Return the example's metrics for ``model`` on ``frame`` (features plus ``converted``)."""
    if frame.empty:
        raise ValueError("cannot evaluate on an empty frame")
    y_true = frame[TARGET].to_numpy()
    y_score = model.predict_proba(frame.drop(columns=[TARGET]))[:, 1]
    y_pred = (y_score >= THRESHOLD).astype(int)
    # One class only: ROC AUC is undefined; NaN makes any gate on it fail rather than pass.
    roc_auc = roc_auc_score(y_true, y_score) if len(set(y_true)) == 2 else math.nan
    return {
        "roc_auc": float(roc_auc),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1": float(f1_score(y_true, y_pred, zero_division=0)),
        "precision": float(precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(recall_score(y_true, y_pred, zero_division=0)),
        "log_loss": float(log_loss(y_true, y_score, labels=[0, 1])),
        "rows": len(frame),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the DVC stage."""
    parser = argparse.ArgumentParser(
        prog="python -m example.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default="models/model.skops", help="(default: %(default)s)")
    parser.add_argument("--data", default="data/test.parquet", help="(default: %(default)s)")
    parser.add_argument("--out", default="metrics/eval.json", help="(default: %(default)s)")
    args = parser.parse_args(argv)

    metrics = evaluate(load_model(args.model), pd.read_parquet(args.data, engine="pyarrow"))
    undefined = [name for name, value in metrics.items() if math.isnan(value)]
    if undefined:
        # Say why here, rather than let a NaN reach a gate or an invalid JSON reach DVC.
        raise SystemExit(
            f"{args.data}: {', '.join(undefined)} undefined (does '{TARGET}' hold both classes?)"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    print(f"{out}: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if k != "rows"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
