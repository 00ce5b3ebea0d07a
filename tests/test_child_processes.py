"""Children die with their parent: kill -9 the controller, and its servers are gone in seconds.

A real parent process (a small driver using the same spawn helper as ``mlci run``'s router,
staging probe and evaluation) starts a child that starts a grandchild; the test kills the
parent with SIGKILL, which runs no cleanup at all, and watches both descendants go.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups")

REPO = Path(__file__).resolve().parents[1]

# The child: starts a grandchild (as uvicorn workers or pytest-xdist would), records both
# pids once it runs, then serves "forever".
CHILD = """
import subprocess, sys, time
from pathlib import Path

grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
Path(sys.argv[1]).write_text(f"{__import__('os').getpid()} {grandchild.pid}")
time.sleep(600)
"""

# The same child as an ASGI app under uvicorn, the server the local router runs: uvicorn
# handles SIGTERM itself (a graceful shutdown), so the lifeline must still end the group.
ASGI_CHILD = """
import os, subprocess, sys
from pathlib import Path

grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
Path(os.environ["PIDS"]).write_text(f"{os.getpid()} {grandchild.pid}")

async def app(scope, receive, send):
    pass
"""

# The parent: spawns the child from the main thread (parent-death signal and lifeline) or
# from a short-lived thread (the lifeline alone), then waits to be killed, or exits.
DRIVER = """
import sys, threading, time
from mlci_local.children import spawn, stop

how, pids, module = sys.argv[1], sys.argv[2], sys.argv[3]
box = {}
def start():
    box["child"] = spawn(module, sys.argv[4:] or [pids])
if how == "thread":
    worker = threading.Thread(target=start)
    worker.start()
    worker.join()  # the spawning thread is gone: PDEATHSIG would fire now if it were set
else:
    start()
print("spawned", flush=True)
if how == "stop":
    while not __import__("pathlib").Path(pids).exists():
        time.sleep(0.05)
    stop(box["child"])
    sys.exit(0)
if how == "exit":
    while not __import__("pathlib").Path(pids).exists():
        time.sleep(0.05)
    sys.exit(0)  # no cleanup: the lifeline alone must end the child
time.sleep(600)
"""


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for its reaper is dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False
    return True


def wait_gone(pids: list[int], timeout: float) -> float | None:
    """Seconds until every pid is gone, or None if one is still alive after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not any(alive(pid) for pid in pids):
            return time.monotonic() - started
        time.sleep(0.005)
    return None


@pytest.fixture
def family(tmp_path):
    """Start the driver in ``how`` mode; yield (driver, child pid, grandchild pid)."""
    (tmp_path / "lifeline_child.py").write_text(textwrap.dedent(CHILD))
    (tmp_path / "driver.py").write_text(textwrap.dedent(DRIVER))
    (tmp_path / "asgi_child.py").write_text(textwrap.dedent(ASGI_CHILD))
    started: list[subprocess.Popen] = []
    leftovers: list[int] = []

    def start(how: str, *child: str) -> tuple[subprocess.Popen, int, int]:
        pids = tmp_path / f"pids-{how}"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
               "PIDS": str(pids)}  # fmt: skip
        driver = subprocess.Popen(
            [sys.executable, "driver.py", how, str(pids), *(child or ["lifeline_child"])],
            cwd=tmp_path, env=env,
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        started.append(driver)
        deadline = time.monotonic() + 30
        while not pids.exists() or len(pids.read_text().split()) < 2:
            assert time.monotonic() < deadline, "the child never started"
            assert driver.poll() is None or how in ("exit", "stop"), driver.stdout.read()
            time.sleep(0.02)
        child, grandchild = map(int, pids.read_text().split())
        leftovers.extend((child, grandchild))
        return driver, child, grandchild

    yield start
    for driver in started:
        if driver.poll() is None:
            driver.kill()
        driver.wait()
    for pid in leftovers:  # never leave a sleeper behind, whatever the test found
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


UVICORN = ("uvicorn", "asgi_child:app", "--port", "0", "--log-level", "warning")


@pytest.mark.parametrize(
    "how, command",
    [("main", ()), ("thread", ()), ("main", UVICORN)],
    ids=["main-thread", "worker-thread", "uvicorn"],
)
def test_a_killed_parent_takes_its_child_and_grandchild_with_it(family, how, command):
    driver, child, grandchild = family(how, *command)
    assert alive(child) and alive(grandchild)
    killed = time.monotonic()
    driver.send_signal(signal.SIGKILL)  # no cleanup runs in the parent
    driver.wait()
    outlived = wait_gone([child, grandchild], timeout=10)
    assert outlived is not None, (
        f"child {child} alive={alive(child)}, grandchild {grandchild} alive={alive(grandchild)} "
        f"{time.monotonic() - killed:.1f} s after the parent was killed"
    )
    assert outlived < 3.0
    name = f"{how} {' '.join(command[:1])}".strip()
    print(f"\n{name}: descendants outlived the killed parent by {outlived * 1000:.0f} ms")


def test_the_spawning_thread_ending_does_not_kill_the_child(family):
    """PDEATHSIG follows the thread that forked; a child spawned from a worker thread that
    has ended must keep serving while its parent lives."""
    driver, child, grandchild = family("thread")
    time.sleep(0.5)
    assert driver.poll() is None
    assert alive(child) and alive(grandchild)


@pytest.mark.parametrize("how", ["stop", "exit"])
def test_a_normal_exit_leaves_no_child(family, how):
    """``stop`` ends the child's whole group; a parent that exits without it still leaves
    nothing behind (the lifeline closes)."""
    driver, child, grandchild = family(how)
    assert driver.wait(timeout=30) == 0
    assert wait_gone([child, grandchild], timeout=10) is not None


def test_a_child_of_a_dead_parent_never_starts_serving(tmp_path):
    """The race the parent-pid check closes: the parent died before the child armed its
    parent-death signal. The child must exit instead of running its module."""
    (tmp_path / "lifeline_child.py").write_text(textwrap.dedent(CHILD))
    read_end, write_end = os.pipe()
    os.close(write_end)  # as if the parent were already gone
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
        "MLCI_LIFELINE_FD": str(read_end),
        "MLCI_LIFELINE_PARENT": "1",  # not our pid: the parent that spawned it is gone
        "MLCI_LIFELINE_PDEATHSIG": "1",
    }
    pids = tmp_path / "pids"
    done = subprocess.run(
        [sys.executable, "-m", "mlci_local.children", "lifeline_child", str(pids)],
        cwd=tmp_path, env=env, pass_fds=(read_end,), start_new_session=True, timeout=30,
    )  # fmt: skip
    os.close(read_end)
    assert done.returncode == -signal.SIGTERM
    assert not pids.exists()


def test_run_stops_the_whole_group_on_timeout(tmp_path):
    """``children.run`` (staging, evaluation) kills the child and its grandchildren when the
    time is up, not only the direct child as ``subprocess.run`` would."""
    from mlci_local.children import run

    (tmp_path / "lifeline_child.py").write_text(textwrap.dedent(CHILD))
    pids = tmp_path / "pids"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    with pytest.raises(subprocess.TimeoutExpired):
        run("lifeline_child", [str(pids)], cwd=tmp_path, env=env, timeout=3)
    child, grandchild = map(int, pids.read_text().split())
    assert wait_gone([child, grandchild], timeout=5) is not None


def test_run_returns_what_the_child_printed(tmp_path):
    from mlci_local.children import run

    (tmp_path / "say.py").write_text("import sys\nprint('out', sys.argv[1:])\nsys.exit(3)\n")
    done = run("say", ["a", "b"], cwd=tmp_path, timeout=30)
    assert (done.returncode, done.stdout) == (3, "out ['a', 'b']\n")


RECORDS_ITS_END = """
import signal, sys, time
from pathlib import Path

def ended(signum, frame):
    Path(sys.argv[1]).write_text("recorded SIGTERM")
    raise SystemExit(143)

if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # as run_journal.sigterm_unwinds
    signal.signal(signal.SIGTERM, ended)
Path(sys.argv[1] + ".ready").write_text("")
time.sleep(60)
"""


@pytest.mark.parametrize("own_sigterm", [True, False])
def test_a_child_that_handles_sigterm_itself_gets_to_record_its_end(tmp_path, own_sigterm):
    """`mlci run` over many models starts each model's run with ``own_sigterm``: a stop
    (a cancelled CI job) lets it write its end record; without it the lifeline's handler
    ends the group at once (the contrast shows the check can fail)."""
    from mlci_local.children import spawn, stop

    (tmp_path / "records_end.py").write_text(RECORDS_ITS_END)
    marker = tmp_path / "end"
    child = spawn("records_end", [str(marker)], cwd=tmp_path, own_sigterm=own_sigterm,
                  env={**os.environ, "PYTHONPATH": str(tmp_path)})  # fmt: skip
    deadline = time.monotonic() + 30
    while not marker.with_suffix(".ready").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop(child, grace=10)
    assert (child.returncode == 143) is own_sigterm
    assert marker.exists() is own_sigterm
