"""Run several processes in the foreground as one unit (``manage.py demo_run``).

Each process gets its own process group, so stopping it also stops what it spawned (a
Celery worker's pool, a runserver child). Output lines are prefixed with the process name.
Ctrl-C or SIGTERM stops them all; when one exits on its own, the others are stopped too and
the exit is reported, because a demo with a dead worker or beat would mislead whoever uses it.

On Linux the supervisor is also the "child subreaper" of everything it starts: a grandchild
that leaves its process group and is orphaned is re-parented to the supervisor rather than to
init, and is killed with the rest, so nothing the demo started outlives it.
"""

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

STOP_GRACE_SECONDS = 10
PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class Outcome:
    """Why the group stopped: ``name`` is the process that exited first (None on a signal)."""

    name: str | None
    returncode: int | None


def _pump(name: str, width: int, stream, out: TextIO, lock: threading.Lock) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip("\n")
        with lock:
            out.write(f"{name:<{width}} | {line}\n")
            out.flush()
    stream.close()


def _stop(processes: dict[str, subprocess.Popen]) -> None:
    """SIGTERM every leader, give them all one shared grace period, then SIGKILL every group.

    The leader first: a Celery worker then shuts its own pool down warmly. The grace period
    is shared, so a stop takes at most STOP_GRACE_SECONDS however many processes hang.
    """
    for proc in processes.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for proc in processes.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    for proc in processes.values():
        # The leader if it is still running, and children left behind in its group.
        _signal_group(proc, signal.SIGKILL)
        proc.wait()


def _set_subreaper(on: bool) -> None:
    if Path("/proc/self/stat").exists():
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)


def _children() -> set[int]:
    own = str(os.getpid())
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if (entry / "stat").read_text().rsplit(") ", 1)[1].split()[1] == own:
                    pids.add(int(entry.name))
    return pids


def _kill_adopted(known: set[int]) -> None:
    """SIGKILL and reap orphans re-parented to us until none is left.

    ``known`` are the children that are not the demo's to kill (those that were there
    before it started). Killing an orphan may orphan its own children: hence the loop.
    """
    while adopted := _children() - known:
        for pid in adopted:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def run_processes(
    commands: Sequence[tuple[str, Sequence[str]]], *, out: TextIO, env: dict[str, str] | None = None
) -> Outcome:
    """Start every ``(name, argv)``, wait until one exits or SIGINT/SIGTERM arrives, stop all."""
    # A plain flag, not a threading.Event: the handler runs on the main thread between two
    # bytecodes, possibly while Event.wait() holds the event's lock, and Event.set() would
    # then wait for that lock forever (the demo stack hung on SIGTERM this way).
    signals: list[int] = []
    exited: list[tuple[str, int]] = []
    lock = threading.Lock()
    width = max(len(name) for name, _argv in commands)

    def on_signal(signum, frame):
        signals.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes: dict[str, subprocess.Popen] = {}
    pumps = []
    others = _children()
    _set_subreaper(True)
    try:
        for name, argv in commands:
            proc = subprocess.Popen(  # noqa: S603 - argv comes from our own demo modules
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
            processes[name] = proc
            pump = threading.Thread(target=_pump, args=(name, width, proc.stdout, out, lock), daemon=True)
            pump.start()
            pumps.append(pump)
        while not signals and not exited:
            for name, proc in processes.items():
                if proc.poll() is not None:
                    exited.append((name, proc.returncode))
                    break
            time.sleep(0.2)
    finally:
        _stop(processes)
        _kill_adopted(others)
        _set_subreaper(False)
        for pump in pumps:
            pump.join(timeout=2)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if exited:
        return Outcome(name=exited[0][0], returncode=exited[0][1])
    return Outcome(name=None, returncode=None)
