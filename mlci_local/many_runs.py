"""``mlci run`` over several models of one repository: each in its own process, in parallel.

Each model runs as ``mlci --model NAME run`` in a child process, so one model's run is
exactly the run it would be alone: its own run lock, ledger records, exit code and output.
Children run side by side up to ``jobs`` at a time; only ``dvc repro`` is taken in turn
(:func:`mlci_local.training.repro_lock`), because DVC refuses two in one repository. Each
model's output is shown as one block when it finishes, so blocks never interleave; the exit
code is the worst of theirs (3 unexpected, then 2 configuration, then an interruption, then
1 a check said no), so one failing model fails the job while the others still promote.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

STOP_GRACE_S = 15.0  # how long cancelled models get to record their interruption
#: Worst first: which child's exit code the whole run reports.
_SEVERITY = (3, 2, 143, 130, 1)


@dataclass(frozen=True)
class ModelRun:
    """How one model's run ended."""

    name: str
    exit_code: int
    seconds: float
    output: str
    stopped_at: str | None = None  # the stage that said no (from the model's last-run file)
    outcome: str = ""

    def verdict(self) -> str:
        if self.exit_code == 0:
            return self.outcome or "passed"
        from mlci_local.pipeline import TITLES

        stage = TITLES.get(self.stopped_at or "", self.stopped_at)
        where = f" at {stage}" if stage else ""
        return f"FAILED{where} (exit {self.exit_code})"


def worst_exit_code(codes: Sequence[int]) -> int:
    """The exit code of several runs together."""
    for code in _SEVERITY:
        if code in codes:
            return code
    return max(codes, default=0)


def run_models(
    project: Any,
    names: Sequence[str],
    *,
    until: str,
    jobs: int,
    wait: float = 0.0,
    echo: Callable[[str], None] = print,
) -> list[ModelRun]:
    """Run ``names`` (tables of ``project``) up to ``jobs`` at a time; one block per model as
    it finishes. Ctrl-C or SIGTERM stops every child (their own runs record it)."""
    from mlci_local.children import spawn, stop

    pending = list(names)
    running: dict[str, tuple[subprocess.Popen[Any], Any, float]] = {}
    finished: list[ModelRun] = []
    try:
        while pending or running:
            while pending and len(running) < max(1, jobs):
                name = pending.pop(0)
                last_run_file(project, name).unlink(missing_ok=True)  # never a stale verdict
                log = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 (closed when it ends)
                arguments = ["--config", str(project.source), "--model", name, "run",
                             "--until", until, "--wait", str(wait)]  # fmt: skip
                env = {**os.environ, "COLUMNS": os.environ.get("COLUMNS", "120")}
                process = spawn("mlci_local", arguments, cwd=project.root, stdout=log,
                                stderr=subprocess.STDOUT, env=env, own_sigterm=True)  # fmt: skip
                running[name] = (process, log, time.perf_counter())
            done = [name for name, (process, _, _) in running.items() if process.poll() is not None]
            if not done:
                time.sleep(0.1)
                continue
            for name in done:
                process, log, started = running.pop(name)
                stop(process)
                log.seek(0)
                output = log.read().decode("utf-8", errors="replace")
                log.close()
                result = _result(project, name, process.returncode, time.perf_counter() - started,
                                 output)  # fmt: skip
                finished.append(result)
                for line in block(project, result):
                    echo(line)
    except BaseException:
        # Cancelled (SIGTERM, Ctrl-C) or broken: every running model gets SIGTERM at once and
        # time to record its interruption in the ledger, then whatever is left is killed.
        for process, _, _ in running.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process, log, _ in running.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            stop(process, grace=0.0)
            log.close()
        raise
    return finished


def block(project: Any, result: ModelRun) -> list[str]:
    """One model's verdict block: a heading, then its run's own output."""
    config = project.models[result.name]
    heading = (
        f"── {result.name} ({config.task}, tier {config.tier}): {result.verdict()} "
        f"in {result.seconds:.1f} s "
    )
    lines = [heading.ljust(78, "─")]
    lines += [line for line in result.output.rstrip().splitlines() if line.strip()]
    return [*lines, ""]


def summary(results: Sequence[ModelRun]) -> list[str]:
    """The closing lines: which models passed, which wait for a person, which said no."""
    failed = [r for r in results if r.exit_code != 0]
    held = [r for r in results if r.exit_code == 0 and r.outcome.endswith(": held")]
    passed = len(results) - len(failed) - len(held)
    lines = [f"mlci run: {len(results)} model(s): {passed} passed, {len(held)} held, "
             f"{len(failed)} failed"]  # fmt: skip
    for result in results:
        lines.append(f"  {result.name:<24} {result.verdict()}  ({result.seconds:.1f} s)")
    if failed:
        names = ", ".join(f"{r.name} ({r.verdict()})" for r in failed)
        lines.append(f"failed: {names}")
    return lines


def _result(project: Any, name: str, code: int, seconds: float, output: str) -> ModelRun:
    """The child's exit code with the stage it stopped at and how its stage 7 ended."""
    stopped_at, outcome = None, ""
    try:
        stages = json.loads(last_run_file(project, name).read_text(encoding="utf-8")).get(
            "stages", []
        )
    except (OSError, ValueError):
        stages = []
    failed = next((s for s in stages if s.get("status") == "failed"), None)
    if failed is not None:
        stopped_at = str(failed.get("stage"))
    elif stages:
        last = stages[-1]
        outcome = f"{last.get('stage')}: {last.get('status')}"
    return ModelRun(name, code, round(seconds, 1), output, stopped_at, outcome)


def last_run_file(project: Any, name: str) -> Any:
    """Where a model's run writes its stage summary (mlci_local.pipeline)."""
    config = project.models[name]
    return config.state_dir / "reports" / f"last-run-{config.label}.json"


def default_jobs(count: int) -> int:
    """As many at once as there are cores, at most one per model."""
    return max(1, min(count, os.cpu_count() or 1))
