"""Servers the scale tests start themselves: ports, processes, and the OMS's own roles
(Celery worker and beat) pointed at the test database.

Ports come from ``OMS_SCALE_PORT_BASE`` (default 17600) upwards, skipping any in use, so
parallel checkouts on one machine can each take their own range; each pytest-xdist worker
starts 40 ports further on.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
_worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_next_port = int(os.environ.get("OMS_SCALE_PORT_BASE", "17600")) + 40 * _worker


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, also_free: int = 0) -> int:
    """The next unused port of the range; ``also_free`` asks that port + offset be free too
    (Redis Cluster's bus listens on port + 10000)."""
    global _next_port
    while True:
        port = _next_port
        _next_port += 1
        if _port_free(port) and (not also_free or _port_free(port + also_free)):
            return port


def require(binary: str) -> str:
    path = shutil.which(binary)
    assert path, f"{binary} is not installed: run `make system-deps` (or .ci/run) first"
    return path


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001, S110 - a server still starting refuses or errs
            pass
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def start(argv: list[str], *, log: Path, env: dict | None = None) -> subprocess.Popen:
    handle = log.open("ab")
    return subprocess.Popen(  # noqa: S603 - our own server binaries and roles
        argv, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
    )


def stop(process: subprocess.Popen, *, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    """Stop a process we started (its whole session: a Celery worker's pool children too)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)


def oms_env(**overrides: str) -> dict:
    """The environment of an OMS role process using this test's database and Redis."""
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def celery(role: str, *args: str, log: Path, **env: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "celery", "-A", "oms", role, "-l", "info", *args]
    return start(argv, log=log, env=oms_env(**env))
