"""Data validation and drift on 1,000,000 rows x 20 columns, against a plain scipy loop.

Measures, in one run on the same frames:
  * full validation (volume, quality, drift) of current vs reference with pytest-mlci, exact
    mode, and the same drift streamed from parquet (bounded memory);
  * a plain per-column loop: scipy ``ks_2samp`` (numeric) or ``chisquare`` (categorical) plus
    PSI over reference deciles; the ratio of the two;
  * peak memory of the validation (tracemalloc: numpy and pandas allocations) against the two
    frames' in-memory size;
  * detection of the three injected shifts, and the false-alarm rate over no-drift replicates.

Run: .venv/bin/python benchmarks/bench_data.py [--rows 1000000] [--replicates 200]
Evidently's DataDriftPreset on the same frames: benchmarks/bench_data_evidently.py. Streamed
validation of 20,000,000 rows in bounded memory: benchmarks/bench_data_streamed.py.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from pytest_mlci.config import DatasetConfig
from pytest_mlci.data.drift import check_drift, column_verdicts
from pytest_mlci.data.stats import streamed_drift
from pytest_mlci.data.validate import DatasetChecks

SHIFTED = ("f00", "f01", "cat0")


def make_frame(rows: int, seed: int, *, shifted: bool) -> pd.DataFrame:
    """15 float, 3 int, 2 categorical columns; ``shifted`` moves the three SHIFTED ones."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for i in range(15):
        if i % 3 == 2:
            values = rng.lognormal(0.0, 0.5 + i / 30, rows)
        else:
            values = rng.normal(i, 1 + i / 10, rows)
        data[f"f{i:02d}"] = values
    if shifted:
        data["f00"] = data["f00"] + 0.5 * 1.0  # mean + half a standard deviation
        data["f01"] = 1 + (data["f01"] - 1) * 1.5  # spread x 1.5
    for i in range(3):
        data[f"i{i}"] = rng.poisson(2 + 3 * i, rows).astype("int64")
    share = [0.4, 0.3, 0.2, 0.1] if not shifted else [0.2, 0.3, 0.2, 0.3]
    data["cat0"] = pd.Categorical(rng.choice(["a", "b", "c", "d"], rows, p=share))
    data["cat1"] = pd.Categorical(rng.choice([f"r{j}" for j in range(20)], rows))
    return pd.DataFrame(data)


def plain_loop(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, float]:
    """What a team writes by hand: scipy test + PSI per column, one after the other."""
    out = {}
    for column in reference.columns:
        ref, cur = reference[column], current[column]
        if pd.api.types.is_numeric_dtype(ref):
            p = stats.ks_2samp(ref, cur).pvalue
            edges = np.unique(np.quantile(ref, np.linspace(0, 1, 11)))
            edges[0], edges[-1] = -np.inf, np.inf
            r = np.histogram(ref, edges)[0] / len(ref)
            c = np.histogram(cur, edges)[0] / len(cur)
        else:
            r_counts = ref.value_counts()
            c_counts = cur.value_counts().reindex(r_counts.index, fill_value=0)
            expected = r_counts / r_counts.sum() * c_counts.sum()
            p = stats.chisquare(c_counts, expected).pvalue
            r, c = r_counts.to_numpy() / len(ref), c_counts.to_numpy() / len(cur)
        r, c = np.maximum(r, 1e-4), np.maximum(c, 1e-4)
        out[column] = float(np.sum((c - r) * np.log(c / r))) + 0 * p
    return out


def timed(call):
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def validate_all(reference: pd.DataFrame, current: pd.DataFrame, dataset: DatasetConfig):
    checks = DatasetChecks(dataset, root=Path("."), task="")
    checks._frames = {"current": current, "reference": reference}  # frames already in memory
    return [*checks.volume(), *checks.quality(), *checks.drift()]


def false_alarms(replicates: int, rows: int) -> tuple[int, int, int]:
    """(replicates with any drifted column, drifted columns, columns judged) without drift."""
    dataset = DatasetConfig(name="bench", path=Path("current"))
    any_drift = drifted = judged = 0
    for seed in range(replicates):
        verdicts = column_verdicts(
            check_drift(
                make_frame(rows, 10_000 + seed, shifted=False),
                make_frame(rows, 20_000 + seed, shifted=False),
                dataset,
            )
        )
        bad = sum(v == "fail" for v in verdicts.values())
        any_drift += bad > 0
        drifted += bad
        judged += len(verdicts)
    return any_drift, drifted, judged


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--replicate-rows", type=int, default=20_000)
    args = parser.parse_args()

    reference = make_frame(args.rows, 1, shifted=False)
    current = make_frame(args.rows, 2, shifted=True)
    frames_mb = (
        reference.memory_usage(deep=True).sum() + current.memory_usage(deep=True).sum()
    ) / 2**20
    dataset = DatasetConfig(name="bench", path=Path("current"), reference=Path("reference"))
    validate_all(reference.head(5000), current.head(5000), dataset)  # warm imports and pools

    gc.collect()
    tracemalloc.start()
    _, rows = timed(lambda: validate_all(reference, current, dataset))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Medians of three, interleaved, so a busy machine slows both sides alike.
    ours, drift, loop = [], [], []
    for _ in range(3):
        ours.append(timed(lambda: validate_all(reference, current, dataset))[0])
        seconds, drift_rows = timed(lambda: check_drift(reference, current, dataset))
        drift.append(seconds)
        loop.append(timed(lambda: plain_loop(reference, current))[0])
    ours_s, drift_s, loop_s = (statistics.median(x) for x in (ours, drift, loop))

    verdicts = column_verdicts(drift_rows)
    flagged = sorted(c for c, v in verdicts.items() if v == "fail")

    with tempfile.TemporaryDirectory() as tmp:
        ref_path, cur_path = Path(tmp) / "reference.parquet", Path(tmp) / "current.parquet"
        reference.to_parquet(ref_path, row_group_size=250_000)
        current.to_parquet(cur_path, row_group_size=250_000)
        streamed_s, streamed_rows = timed(lambda: streamed_drift(ref_path, cur_path, dataset))
    streamed_flagged = sorted(c for c, v in column_verdicts(streamed_rows).items() if v == "fail")

    print(f"{args.rows:,} rows x {reference.shape[1]} columns; two frames {frames_mb:,.0f} MiB")
    print(f"{'measure':<52} {'figure':>12}")
    print(f"{'full validation (volume, quality, drift), exact, s':<52} {ours_s:>12.2f}")
    print(f"{'  of which drift alone, s':<52} {drift_s:>12.2f}")
    print(f"{'plain scipy ks_2samp/chisquare + PSI loop, s':<52} {loop_s:>12.2f}")
    print(f"{'ratio loop / full validation':<52} {loop_s / ours_s:>11.1f}x")
    print(f"{'ratio loop / drift alone':<52} {loop_s / drift_s:>11.1f}x")
    print(f"{'streamed drift from parquet, s':<52} {streamed_s:>12.2f}")
    print(f"{'peak traced memory of full validation, MiB':<52} {peak / 2**20:>12.0f}")
    print(f"{'  vs the two frames':<52} {peak / 2**20 / frames_mb:>11.2f}x")
    print(f"{'injected shifts':<52} {', '.join(SHIFTED):>12}")
    print(f"{'flagged (exact)':<52} {', '.join(flagged):>12}")
    print(f"{'flagged (streamed)':<52} {', '.join(streamed_flagged):>12}")
    print(f"{'all rows pass except drift of the shifted columns':<52} "
          f"{all(r.verdict == 'pass' or r.column in SHIFTED for r in rows)!s:>12}")  # fmt: skip
    started = time.perf_counter()
    any_drift, drifted, judged = false_alarms(args.replicates, args.replicate_rows)
    print(
        f"false alarms, {args.replicates} no-drift replicates of {args.replicate_rows:,} rows: "
        f"{any_drift}/{args.replicates} replicates ({any_drift / args.replicates:.1%}), "
        f"{drifted}/{judged} columns ({drifted / judged:.2%}); "
        f"{time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
