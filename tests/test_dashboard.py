"""`mlci dashboard`: the pages built from a months-long ledger say what happened.

The history is written through the ledger's own chaining (tests/ledger_history.py) and
verifies; the pages are checked for what a person reads on them. The browser test opens
them in headless Chromium (tests/test_dashboard_browser.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlci_local.dashboard.data import load
from mlci_local.dashboard.site import write_site
from mlci_local.ledger import Ledger, verify
from tests.ledger_history import write_history

EMOJI = re.compile("[\u2600-\u27bf\U0001f300-\U0001faff]")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("dashboard")
    ledger_path = root / "ledger.jsonl"
    write_history(ledger_path, versions=14, runs_per_version=3)
    assert verify(ledger_path).ok
    data = load(Ledger(ledger_path).records_for_display(), "churn")
    write_site(data, root / "site")
    return root / "site", data


def text_of(html: str) -> str:
    """The page's visible words, roughly (tags dropped, whitespace collapsed)."""
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    html = re.sub(r"<title>.*?</title>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_data_follows_the_history(site):
    _, data = site
    assert list(data.versions) == [str(n) for n in range(1, 15)]
    assert data.production == "13"  # v14's canary failed; v13 is still serving
    assert [m.action for m in data.moves].count("rollback") == 1
    rolled = [v.version for v in data.versions.values() if v.rolled_back]
    assert rolled == ["11"]
    assert [c["verdict"] for c in data.versions["14"].canaries] == ["fail"]
    assert len(data.versions["12"].approvals) == 1
    assert data.drift_columns == [("eval", "age"), ("eval", "channel"), ("eval", "income")]
    outcomes = {r.outcome for r in data.runs}
    assert "passed" in outcomes and "stopped" in outcomes


def test_the_health_page_shows_the_five_metrics_against_their_targets(site):
    folder, _ = site
    html = (folder / "index.html").read_text()
    words = text_of(html)
    for name in ("Deployment frequency", "Lead time for changes", "Change failure rate",
                 "Time to restore", "Pipeline reliability"):  # fmt: skip
        assert name in words
    for target in ("at least monthly", "under 24 h", "under 5 %", "under 15 min", "over 95 %"):
        assert f"target {target}" in words
    # 1 rollback and 2 failed canaries over 12 promotions: misses the 5 % target
    assert "25.0%" in words and "misses: target under 5 %" in words
    assert words.count("passed") >= 14
    assert 'aria-label="mlci runs per day by outcome"' in html


def test_the_quality_page_marks_the_rollback_production_and_the_failed_canary(site):
    folder, _ = site
    html = (folder / "quality.html").read_text()
    words = text_of(html)
    assert re.search(r'data-action="rollback"><td>[^<]+</td><td>.*?rollback', html, re.S)
    row = re.search(r'<tr data-version="11" class="rolledback">(.*?)</tr>', html, re.S)
    assert row and "rolled back" in row.group(1)
    assert re.search(r'<tr data-version="13" class="production">.*?production', html, re.S)
    assert "quality worse than production" in words
    assert "error rate rose after promotion" in words
    assert "roc_auc by version" in words and "gate 0.75" in html
    # every version's estimate with its interval, as a hover title on the chart
    assert len(re.findall(r"<title>v\d+: 0\.\d{4} \[0\.\d{4}, 0\.\d{4}\]", html)) == 2 * 14
    assert "eval/income at" in html and "(fail)" in html  # the planted drift, in the heat map


def test_no_page_depends_on_the_viewers_emoji_font_or_the_network(site):
    folder, _ = site
    for page in folder.glob("*.html"):
        html = page.read_text()
        assert not EMOJI.search(html), page.name
        assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "https://" not in html and "<link" not in html, page.name


def test_the_comparison_page_carries_every_version_with_its_lineage(site):
    folder, _ = site
    html = (folder / "compare.html").read_text()
    payload = re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S)
    data = json.loads(payload.group(1).replace("<\\/", "</"))
    assert [v["version"] for v in data["versions"]] == [str(n) for n in range(1, 15)]
    assert (data["default_a"], data["default_b"]) == ("13", "14")
    v14 = data["versions"][-1]
    assert v14["quality"]["baseline_version"] == "13"
    assert v14["lineage"]["params"]["train.max_iter"] == "200"


def test_mlci_dashboard_writes_the_pages_for_the_project(tiny_dir):
    ledger = tiny_dir.root / ".mlci" / "ledger.jsonl"
    write_history(ledger, model="tiny", versions=4, runs_per_version=2)
    done = subprocess.run(
        [sys.executable, "-m", "mlci_local", "dashboard", "--out", "site"],
        cwd=tiny_dir.root, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dashboard of tiny: 4 versions, 8 runs" in done.stdout
    for name in ("index.html", "quality.html", "compare.html"):
        assert (tiny_dir.root / "site" / name).stat().st_size > 1000


def test_an_empty_ledger_gives_pages_that_say_nothing_happened_yet(tmp_path):
    data = load([], "fresh")
    write_site(data, tmp_path)
    assert "No mlci run recorded yet." in (tmp_path / "index.html").read_text()
    assert "nothing promoted yet" in text_of((tmp_path / "quality.html").read_text())


def test_a_monitoring_window_appears_in_the_drift_heat_map(tmp_path):
    ledger_path = tmp_path / "ledger.jsonl"
    write_history(ledger_path, versions=3, runs_per_version=1)
    Ledger(ledger_path).append("monitor", {
        "model": "churn", "retrain": True, "drifted": ["tenure"],
        "drift": {"tenure": {"test": "psi", "score": 1.6, "threshold": 0.2, "verdict": "fail"}},
    })  # fmt: skip
    data = load(Ledger(ledger_path).records_for_display(), "churn")
    assert ("served", "tenure") in data.drift_columns
    write_site(data, tmp_path / "site")
    html = (tmp_path / "site" / "quality.html").read_text()
    assert "served/tenure at" in html and "psi 1.6 vs 0.2 (fail)" in html


def test_mlci_serve_shows_the_dashboard_at_slash_dashboard(tiny_dir):
    """Through the router app itself (the ASGI driver of tests/rollout/test_router.py)."""
    from mlci_local.rollout.router import build_app
    from pytest_mlci.config import load_config
    from tests.rollout.test_router import PROD, Client, Constant

    write_history(tiny_dir.root / ".mlci" / "ledger.jsonl", model="tiny", versions=3,
                  runs_per_version=2)  # fmt: skip
    config = load_config(tiny_dir.root / "pyproject.toml")
    client = Client(build_app(config, production_model=Constant(PROD)))
    assert client.get("/dashboard").status == 307
    page = client.get("/dashboard/quality.html")
    assert page.status == 200 and page.headers["cache-control"] == "no-store"
    assert "Model quality: tiny" in page.body.decode()
    assert 'data-version="3"' in page.body.decode()
    assert client.get("/dashboard/../pyproject.toml").status == 404
    assert client.get("/dashboard/secrets.html").status == 404


def test_a_torn_last_line_is_skipped_not_shown(tmp_path):
    """A crash mid-append leaves half a line; the dashboard reads around it."""
    ledger_path = tmp_path / "ledger.jsonl"
    records = write_history(ledger_path, versions=2, runs_per_version=1)
    with open(ledger_path, "a") as handle:
        handle.write('{"action":"promote","actor":"ci@exa')
    read = Ledger(ledger_path).records_for_display()
    assert len(read) == records
    assert list(load(read, "churn").versions) == ["1", "2"]
