"""``/dashboard`` on ``mlci serve``: the same static pages, rebuilt from the ledger on request.

Why rebuilt and not served from ``mlci dashboard``'s folder: a page opened on the serving
host should show the promotion that happened a minute ago. Builds run in a worker thread (the
router keeps answering predictions) and at most one per ``FRESH_SECONDS``; requests in between
get the last build.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

FRESH_SECONDS = 30.0


class DashboardPages:
    """Builds the pages into ``folder`` when they are older than ``FRESH_SECONDS``."""

    def __init__(self, config: Any, folder: Path | None = None) -> None:
        self.config = config
        self.folder = folder or config.state_dir / "dashboard-served"
        self._built = 0.0
        self._lock = threading.Lock()

    def page(self, name: str) -> str:
        """The HTML of page ``name`` (one of the dashboard's pages), fresh enough."""
        from mlci_local.dashboard.site import PAGES

        if name not in PAGES:
            raise KeyError(name)
        with self._lock:
            if time.monotonic() - self._built > FRESH_SECONDS or not (self.folder / name).exists():
                self._build()
                self._built = time.monotonic()
        return (self.folder / name).read_text(encoding="utf-8")

    def _build(self) -> None:
        from mlci_local.dashboard.data import commit_times, load
        from mlci_local.dashboard.site import write_site
        from mlci_local.promotion import ledger_for

        records = ledger_for(self.config).records_for_display()
        data = load(records, self.config.model, commit_time=commit_times(self.config.root))
        write_site(data, self.folder)


def routes(config: Any) -> list[Any]:
    """Starlette routes: ``/dashboard`` redirects to ``/dashboard/``; each page by name."""
    import anyio
    from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse
    from starlette.routing import Route

    pages = DashboardPages(config)

    async def index(request: Any) -> Any:
        return RedirectResponse("/dashboard/index.html")

    async def page(request: Any) -> Any:
        name = request.path_params.get("name") or "index.html"
        try:
            html = await anyio.to_thread.run_sync(pages.page, name)
        except KeyError:
            return PlainTextResponse(f"no dashboard page {name!r}", status_code=404)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    return [
        Route("/dashboard", index, methods=["GET"]),
        Route("/dashboard/", index, methods=["GET"]),
        Route("/dashboard/{name}", page, methods=["GET"]),
    ]
