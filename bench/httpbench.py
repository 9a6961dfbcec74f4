"""Shared pieces of the HTTP benchmarks: the environment, the database, gunicorn and the
workers started as production starts them, closed-loop signed clients, and CPU read from /proc.

Not a benchmark itself: ``bench_http.py`` and ``bench_ingest.py`` import it.
"""

import http.client
import json
import mmap
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench-only-secret-key-not-for-production-0123456789"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def configure(default_database: str) -> dict[str, str]:
    """Point this process (and the servers it starts) at the benchmark's own database and Redis."""
    env = {
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", f"mysql://root@127.0.0.1:3306/{default_database}"),
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
        "DEBUG": "false",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "oms.settings",
    }
    env["CELERY_BROKER_URL"] = os.environ.get("BENCH_BROKER_URL", env["REDIS_URL"])
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    return env


def recreate_database() -> None:
    """``bench_orders.recreate_database`` (the database dropped, created and migrated), and an
    empty Redis database for the run."""
    import bench_orders
    from django.core.cache import cache

    bench_orders.recreate_database()
    cache.clear()


def git_revision() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)  # noqa: S607
    return done.stdout.strip() + (" + local changes" if _dirty() else "")


def _dirty() -> bool:
    done = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True)  # noqa: S607
    return bool(done.stdout.strip())


def venv_env(extra: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **extra}
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{env.get('PATH', '')}"
    return env


class Server:
    """``docker/start-web.sh`` (migrate, collectstatic, gunicorn), counting SQL per worker."""

    def __init__(self, *, port: int, workers: int, worker_class: str, threads: int):
        self.port = port
        self.counter_path = Path(tempfile.mkstemp(prefix="bench-sql-")[1])
        self.counter_path.write_bytes(b"\0" * 64 * 8)
        self.log = open(tempfile.mkstemp(prefix="bench-web-", suffix=".log")[1], "w")  # noqa: SIM115
        env = {
            "PORT": str(port),
            "WEB_CONCURRENCY": str(workers),
            "WEB_WORKER_CLASS": worker_class,
            "WEB_THREADS": str(threads),
            "GUNICORN_CONFIG": str(ROOT / "bench" / "gunicorn_counting.py"),
            "BENCH_COUNTER_FILE": str(self.counter_path),
        }
        self.process = subprocess.Popen(
            ["sh", "docker/start-web.sh"],  # noqa: S607 - the shell on PATH, as the container runs it
            cwd=ROOT,
            env=venv_env(env),
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            start_new_session=True,
        )
        wait_for(lambda: self.get("/healthz") == 200, what=f"gunicorn on port {port} (log: {self.log.name})")
        wait_for(lambda: len(children(self.process.pid)) >= workers, what="gunicorn workers")

    def get(self, path: str) -> int | None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", path)
            status = conn.getresponse().status
            conn.close()
            return status
        except OSError:
            return None

    def statements(self) -> int:
        with open(self.counter_path, "rb") as handle, mmap.mmap(handle.fileno(), 64 * 8, access=mmap.ACCESS_READ) as m:
            return sum(int.from_bytes(m[i : i + 8], "little") for i in range(0, 64 * 8, 8))

    def pids(self) -> list[int]:
        return [self.process.pid, *children(self.process.pid)]

    def stop(self) -> None:
        stop_group(self.process)
        self.log.close()
        self.counter_path.unlink(missing_ok=True)


def stop_group(process: subprocess.Popen) -> None:
    import signal

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(check, *, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        kids = children(queue.pop())
        found.extend(kids)
        queue.extend(kids)
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of ``pids`` (and of their reaped children)."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields:
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / CLK_TCK


def mariadb_pids() -> list[int]:
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _read(entry / "comm") in ("mariadbd", "mysqld")
    ]


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


# --- clients ---------------------------------------------------------------------------------


def signed_headers(app_key: str, secret: str, method: str, path: str, body: bytes) -> dict[str, str]:
    from apps.core.signatures import signed_headers as sign

    return sign(app_key, secret, method, path, body, nonce=uuid.uuid4().hex)


def _client_process(port, threads, requests_per_thread, make_request, first_index, queue) -> None:
    results: list[tuple[float, int]] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for n in range(requests_per_thread):
            method, path, body, headers = make_request(index, n)
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.will_close:
                    conn.close()
            except (OSError, http.client.HTTPException):
                conn.close()
                status = 0
            mine.append((time.perf_counter() - started, status))
        conn.close()
        with lock:
            results.extend(mine)

    pool = [threading.Thread(target=run, args=(first_index + i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    queue.put(results)


def closed_loop(port: int, *, clients: int, requests: int, make_request, measure) -> dict:
    """``clients`` closed-loop clients (in up to 4 processes, so client CPU stays out of the
    app's) send ``requests`` in all; ``make_request(client, n)`` -> (method, path, body, headers).
    ``measure()`` snapshots counters before and after; returns latencies, statuses and deltas."""
    processes = min(clients, 4)
    per_process = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    per_thread = max(1, requests // clients)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    from django.db import connections

    connections.close_all()
    before = measure()
    started = time.perf_counter()
    workers, first = [], 0
    for threads in per_process:
        worker = ctx.Process(target=_client_process, args=(port, threads, per_thread, make_request, first, queue))
        worker.start()
        workers.append(worker)
        first += threads
    results = [item for _ in workers for item in queue.get()]
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join()
    after = measure()
    latencies = sorted(latency for latency, _status in results)
    return {
        "clients": clients,
        "requests": len(results),
        "seconds": elapsed,
        "per_second": len(results) / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "statuses": Counter(status for _latency, status in results),
        "delta": {key: after[key] - before[key] for key in before},
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1] if q < 1 else values[-1]


def json_body(data) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()
