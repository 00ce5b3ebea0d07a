"""Child processes that die with their parent: ``mlci`` never leaves a server behind.

``mlci run`` starts Python children (the local router for the canary, the fresh-process
staging probe, ``pytest --mlci`` for evaluation). If the controller is killed (``kill -9``,
an OOM kill, a cancelled CI job), nothing runs its cleanup, so each child must notice on
its own. Three mechanisms, each covering what the others miss:

* **A lifeline pipe** (portable: Linux and macOS). The parent keeps the write end of a pipe;
  the child's watcher thread blocks reading the read end. When the parent dies, however it
  dies, the kernel closes the write end, the read returns EOF, and the child stops its whole
  process group (SIGTERM, then SIGKILL after a grace period), grandchildren included.
* **The parent-death signal** (Linux, ``prctl(PR_SET_PDEATHSIG, SIGTERM)``): the kernel
  signals the child the moment its parent goes, with no thread to schedule. It fires when the
  *thread* that forked the child exits, not the process, so it is asked for only when the
  spawning thread is the main thread (which lives as long as the process); children spawned
  from other threads rely on the pipe. After setting it, the child checks that its parent is
  still the one that spawned it, closing the race where the parent died first.
* **A process group of its own** (``start_new_session``), so the parent's cleanup
  (:func:`stop`) and the child's watcher can signal the child with everything it started.

Children are Python modules run as ``python -m mlci_local.children MODULE ARGS...``: the
watcher starts, then ``MODULE`` runs as ``__main__`` exactly as ``python -m MODULE`` would.
Standard library only: this module is imported on the way to every child.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

LIFELINE_FD = "MLCI_LIFELINE_FD"
LIFELINE_PARENT = "MLCI_LIFELINE_PARENT"
LIFELINE_PDEATHSIG = "MLCI_LIFELINE_PDEATHSIG"
# The child handles SIGTERM itself (an `mlci run` that records its interruption first).
LIFELINE_OWN_SIGTERM = "MLCI_LIFELINE_OWN_SIGTERM"
GRACE_S = 5.0  # SIGTERM first (uvicorn shuts down cleanly, logs end on a whole line)
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


# ------------------------------------------------------------------ parent side


def spawn(
    module: str, args: Sequence[str], *, own_sigterm: bool = False, **popen: Any
) -> subprocess.Popen[Any]:
    """Start ``python -m module args...`` as a child tied to this process (see module doc).

    ``popen`` goes to :class:`subprocess.Popen` (``cwd``, ``stdout``, ``pass_fds``, ...).
    The child leads a new process group; stop it with :func:`stop`. ``own_sigterm``: the
    module handles SIGTERM itself (its default is left in place), e.g. `mlci run`, which
    records its interruption before it ends; the parent's death still ends it.
    """
    if os.name == "nt":  # no process groups, pass_fds or killpg: a plain child
        return subprocess.Popen([sys.executable, "-m", module, *args], **popen)
    read_end, write_end = os.pipe()  # both non-inheritable: no other child keeps us alive
    env = dict(popen.pop("env", None) or os.environ)
    env[LIFELINE_FD] = str(read_end)
    env[LIFELINE_PARENT] = str(os.getpid())
    # PDEATHSIG follows the forking thread; only the main thread outlives everything.
    main = threading.current_thread() is threading.main_thread()
    env[LIFELINE_PDEATHSIG] = "1" if main else "0"
    if own_sigterm:
        env[LIFELINE_OWN_SIGTERM] = "1"
    pass_fds = (*popen.pop("pass_fds", ()), read_end)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlci_local.children", module, *args],
            env=env,
            pass_fds=pass_fds,
            start_new_session=True,
            **popen,
        )
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)  # the child holds its copy
    process._mlci_lifeline = write_end  # type: ignore[attr-defined]  # closed by stop()
    return process


def run(
    module: str, args: Sequence[str], *, timeout: float, **popen: Any
) -> subprocess.CompletedProcess[str]:
    """Like ``subprocess.run(capture_output=True, text=True, timeout=...)`` for a tied child.

    On timeout or any exception (Ctrl-C included) the child's whole group is stopped before
    the exception propagates; :class:`subprocess.TimeoutExpired` is re-raised as usual.
    """
    process = spawn(module, args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                    **popen)  # fmt: skip
    try:
        out, err = process.communicate(timeout=timeout)
    except BaseException:
        stop(process, grace=0.0)
        raise
    stop(process)  # its group may hold grandchildren that outlived it
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def stop(process: subprocess.Popen[Any], *, grace: float = 15.0) -> None:
    """Stop a child from :func:`spawn` and its process group: SIGTERM, then SIGKILL.

    Safe to call twice and on a child that already exited (its group may still hold
    grandchildren, which are signalled too).
    """
    if os.name == "nt":
        process.kill()
        process.wait()
        return
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
        try:
            process.wait(timeout=grace if grace > 0 else None)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
    # Leftovers in the group (a grandchild that ignored SIGTERM) get no second chance.
    _signal_group(process.pid, signal.SIGKILL)
    lifeline = getattr(process, "_mlci_lifeline", None)
    if lifeline is not None:
        process._mlci_lifeline = None  # type: ignore[attr-defined]
        os.close(lifeline)


def _signal_group(pgid: int, signum: int) -> None:
    # The group may be gone already (or its id was never ours to signal).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


# ------------------------------------------------------------------ child side


def tie_to_parent() -> None:
    """In a child started by :func:`spawn`: die when the parent does. A no-op otherwise."""
    fd_text = os.environ.pop(LIFELINE_FD, None)
    parent = int(os.environ.pop(LIFELINE_PARENT, "0") or 0)
    pdeathsig = os.environ.pop(LIFELINE_PDEATHSIG, "0") == "1"
    if fd_text is None:
        return
    fd = int(fd_text)
    os.set_inheritable(fd, False)  # grandchildren need not hold it; our watcher covers them
    own = os.environ.pop(LIFELINE_OWN_SIGTERM, "0") == "1"
    if not own and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        # SIGTERM (the parent-death signal, or stop()'s) ends the whole group, not only this
        # process; a module that handles SIGTERM itself (uvicorn) replaces this, and then
        # the watcher thread still ends the group.
        signal.signal(signal.SIGTERM, _on_sigterm)
    if pdeathsig and sys.platform.startswith("linux"):
        _set_parent_death_signal(signal.SIGTERM)
    if parent and os.getppid() != parent:
        _end_group()  # the parent died before the signal was armed: nobody to serve
    threading.Thread(target=_watch, args=(fd,), name="mlci-lifeline", daemon=True).start()


def _on_sigterm(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if os.getpgrp() == os.getpid():
        os.killpg(0, signal.SIGTERM)  # grandchildren too; this process dies of it as well
    os.kill(os.getpid(), signal.SIGTERM)


def _set_parent_death_signal(signum: int) -> None:
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # no prctl (an unusual libc): the lifeline pipe still covers it


def _watch(fd: int) -> None:
    """Block until the parent's end of the pipe closes, then stop this process group."""
    while True:
        try:
            if not os.read(fd, 1):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    _end_group()


def _end_group() -> None:
    """Stop this process and everything it started: SIGTERM, then SIGKILL after a grace."""
    own_group = os.getpgrp() == os.getpid()  # never signal a group we merely joined
    kill = (lambda s: os.killpg(0, s)) if own_group else (lambda s: os.kill(os.getpid(), s))
    kill(signal.SIGTERM)
    time.sleep(GRACE_S)  # still here: a handler (uvicorn's) is shutting down slowly
    kill(signal.SIGKILL)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m mlci_local.children MODULE ARGS...``: tie to the parent, run MODULE."""
    import runpy

    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        raise SystemExit("usage: python -m mlci_local.children MODULE [ARGS...]")
    tie_to_parent()
    sys.argv = args
    runpy.run_module(args[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
