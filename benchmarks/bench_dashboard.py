"""`mlci dashboard` on a long history, and `mlci monitor` on a million served requests.

1. Dashboard: a ledger of ``--versions`` versions with ``--runs`` CI runs each (about 100,000
   records for 1,000 x 40), written through the ledger's own chaining with a simulated clock
   (tests/ledger_history.py) and verified; then the three pages are built as `mlci dashboard`
   builds them (read, load, write), timed end to end, and each page's size reported. Target
   from issue 17: <= 5 s and <= 5 MB per page.
2. Screenshots of the three pages of a smaller history in headless Chromium (Debian's
   `chromium`, driven by playwright), for the README: ``--screenshots DIR``.
3. Monitor: ``--requests`` served one-row requests (default 1,000,000) in the router's log
   format, features drawn from the same distribution as the reference (no drift), with
   delayed labels; `mlci monitor` runs as a subprocess and must exit 0. A second log with one
   column shifted must exit 1 naming it.

Run: ``.venv/bin/python benchmarks/bench_dashboard.py [--versions 1000 --runs 40]
[--requests 1000000] [--screenshots docs/img]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def dashboard(folder: Path, versions: int, runs: int) -> dict[str, float]:
    from mlci_local.dashboard.data import load
    from mlci_local.dashboard.site import write_site
    from mlci_local.ledger import Ledger, verify
    from tests.ledger_history import write_history

    ledger_path = folder / "ledger.jsonl"
    records = write_history(ledger_path, versions=versions, runs_per_version=runs)
    assert verify(ledger_path).ok
    started = time.perf_counter()
    read = Ledger(ledger_path).records_for_display()
    after_read = time.perf_counter()
    data = load(read, "churn")
    after_load = time.perf_counter()
    pages = write_site(data, folder / "site")
    done = time.perf_counter()
    out = {
        "records": records,
        "ledger MB": ledger_path.stat().st_size / 2**20,
        "read s": after_read - started,
        "load s": after_load - after_read,
        "write s": done - after_load,
        "total s": done - started,
    }
    for page in pages:
        out[f"{page.name} MB"] = page.stat().st_size / 2**20
    return out


def screenshots(target: Path) -> None:
    from playwright.sync_api import sync_playwright

    from mlci_local.dashboard.data import load
    from mlci_local.dashboard.site import write_site
    from mlci_local.ledger import Ledger
    from tests.ledger_history import write_history

    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_history(folder / "ledger.jsonl", versions=30, runs_per_version=3)
        write_site(
            load(Ledger(folder / "ledger.jsonl").records_for_display(), "churn"), folder / "site"
        )
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for name in ("index", "quality", "compare"):
                page.goto((folder / "site" / f"{name}.html").as_uri())
                page.screenshot(path=str(target / f"dashboard-{name}.png"), full_page=False)
            browser.close()


def monitor(folder: Path, requests: int) -> dict[str, float]:
    """Two served logs (quiet, then one drifted column) through `mlci monitor`."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n_ref = 50_000
    reference = pd.DataFrame({
        "age": rng.integers(18, 90, n_ref), "income": rng.lognormal(10, 0.5, n_ref),
        "tenure": rng.exponential(3.0, n_ref), "channel": rng.choice(["web", "app", "store"],
                                                                     n_ref, p=[.5, .3, .2]),
        "label": rng.integers(0, 2, n_ref),
    })  # fmt: skip
    (folder / "data").mkdir(parents=True, exist_ok=True)
    reference.to_parquet(folder / "data" / "reference.parquet")
    (folder / "mlci.toml").write_text(
        'model = "churn"\ntask = "binary_classification"\ntarget = "label"\n'
        'artifact = "model.skops"\n\n[datasets.eval]\npath = "data/reference.parquet"\n'
        'reference = "data/reference.parquet"\n'
    )
    out: dict[str, float] = {"requests": requests}
    for name, shift in (("quiet", 0.0), ("drifted", 1.0)):
        log = folder / f"{name}-requests.jsonl"
        feedback = folder / f"{name}-feedback.jsonl"
        when = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
        started = time.perf_counter()
        chunk = 100_000
        with open(log, "w") as requests_file, open(feedback, "w") as feedback_file:
            for start in range(0, requests, chunk):
                size = min(chunk, requests - start)
                age = rng.integers(18, 90, size)
                income = rng.lognormal(10, 0.5, size)
                tenure = rng.exponential(3.0, size) + shift  # planted: tenure shifts by a year
                channel = rng.choice(["web", "app", "store"], size, p=[0.5, 0.3, 0.2])
                label = rng.integers(0, 2, size)
                lines, labels = [], []
                for i in range(size):
                    rid = f"{name}-{start + i}"
                    lines.append(json.dumps({
                        "request_id": rid, "time": when, "arm": "production", "version": "1",
                        "status": 200, "latency_ms": 1.2, "labels": [int(label[i])],
                        "predictions": [0.5],
                        "features": [{"age": int(age[i]), "income": float(income[i]),
                                      "tenure": float(tenure[i]), "channel": str(channel[i])}],
                    }))  # fmt: skip
                    labels.append(json.dumps({"request_id": rid, "label": int(label[i])}))
                requests_file.write("\n".join(lines) + "\n")
                feedback_file.write("\n".join(labels) + "\n")
        out[f"{name}: write log s"] = time.perf_counter() - started
        out[f"{name}: log MB"] = log.stat().st_size / 2**20
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "mlci_local", "monitor", "--log", str(log),
             "--feedback", str(feedback)], cwd=folder, capture_output=True, text=True,
        )  # fmt: skip
        out[f"{name}: monitor s"] = time.perf_counter() - started
        out[f"{name}: exit"] = done.returncode
        print(f"--- {name}: exit {done.returncode}\n{done.stdout}{done.stderr}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=40, help="CI runs per version")
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--screenshots", type=Path, default=None)
    parser.add_argument("--skip", choices=["dashboard", "monitor"], action="append", default=[])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        folder = Path(tmp)
        if "dashboard" not in args.skip:
            found = dashboard(folder / "dashboard", args.versions, args.runs)
            print(f"dashboard, {args.versions} versions x {args.runs} runs:")
            for key, value in found.items():
                print(f"  {key:<22} {value:,.2f}")
        if "monitor" not in args.skip:
            found = monitor(folder / "monitor", args.requests)
            for key, value in found.items():
                print(f"  {key:<22} {value:,.2f}")
    if args.screenshots:
        screenshots(args.screenshots)
        print(f"screenshots in {args.screenshots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
