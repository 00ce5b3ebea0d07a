"""The dashboard in a real browser: headless Chromium (Debian's ``chromium``, driven by the
playwright package through its executable path) opens the pages from disk, finds no console
errors, follows the navigation to each page and to a comparison, and sees what a person would:
the versions listed, the rollback marked, a paired delta shown.

`.ci/run` installs both; where either is missing the test is skipped and says which.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlci_local.dashboard.data import load
from mlci_local.dashboard.site import write_site
from mlci_local.ledger import Ledger
from tests.ledger_history import write_history

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="apt-get install chromium")


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dashboard_browser")
    write_history(root / "ledger.jsonl", versions=14, runs_per_version=3)
    write_site(load(Ledger(root / "ledger.jsonl").records_for_display(), "churn"), root / "site")
    return root / "site"


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.errors = []  # console errors and uncaught exceptions, collected for the test
    opened.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: opened.errors.append(str(e)))
    yield opened
    context.close()


def test_a_person_reads_health_then_quality_then_a_comparison(page, pages):
    page.goto((pages / "index.html").as_uri())
    assert page.title() == "Pipeline health: churn"
    cards = page.locator(".card")
    assert cards.count() == 5
    assert "Pipeline reliability" in cards.nth(4).inner_text()
    assert "misses: target under 5 %" in cards.nth(2).inner_text()
    assert page.locator("#runs tr[data-outcome]").count() == 42

    page.get_by_role("link", name="Model quality").click()
    assert page.title() == "Model quality: churn"
    rollback = page.locator('#moves tr[data-action="rollback"]')
    assert rollback.count() == 1
    assert "error rate rose after promotion" in rollback.inner_text()
    assert "rollback" in rollback.inner_text()
    versions = page.locator("#versions tr[data-version]")
    assert versions.count() == 14
    assert "rolled back" in page.locator('#versions tr[data-version="11"]').inner_text()
    assert "production" in page.locator('#versions tr[data-version="13"]').inner_text()
    # the mark is drawn (an SVG with its word), not a font glyph
    assert page.locator("#moves svg.mark title").first.text_content() in ("pass", "fail")

    page.locator('#versions tr[data-version="14"]').get_by_role("link", name="compare").click()
    assert page.title() == "Compare versions: churn"
    page.wait_for_selector("#metrics")
    assert page.locator("#a").input_value() == "13" and page.locator("#b").input_value() == "14"
    delta = page.locator('#metrics tr[data-metric="roc_auc"] td.delta').inner_text()
    assert "paired, recorded when v14 was evaluated" in delta
    assert "learning_rate" in page.locator("#lineage").inner_text()
    assert page.errors == []


def test_choosing_other_versions_redraws_the_comparison_and_the_address(page, pages):
    page.goto((pages / "compare.html").as_uri() + "#a=2&b=9")
    page.wait_for_selector("#metrics")
    assert page.locator("#metrics th").nth(1).inner_text() == "v2"
    page.select_option("#a", "8")
    assert page.locator("#metrics th").nth(1).inner_text() == "v8"
    assert page.url.endswith("#a=8&b=9")
    delta = page.locator('#metrics tr[data-metric="roc_auc"] td.delta').inner_text()
    assert "paired" in delta  # v8 was production when v9 was evaluated
    page.select_option("#a", "3")
    delta = page.locator('#metrics tr[data-metric="roc_auc"] td.delta').inner_text()
    assert "not paired" in delta
    changed = page.locator("#lineage tr.changed")
    assert changed.count() >= 3  # commit, data, artifact at least
    assert page.errors == []


def test_every_page_opens_without_console_errors(page, pages):
    for name in ("index.html", "quality.html", "compare.html"):
        page.goto((pages / name).as_uri())
        page.wait_for_load_state("load")
    assert page.errors == []
