"""Embedded-default smoke: `make demo` on SQLite in a temporary OMS_VAR_DIR, checked over HTTP.

Waits for /readyz, fetches the admin login page, logs in as the demo admin through the
login form (CSRF and session cookie, as a browser does), calls one API list, then stops
the whole stack and checks that no process of it is left running.
"""

import contextlib
import http.cookiejar
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 180
API_LIST = "/api/v1/orders"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Browser:
    def __init__(self, base: str):
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def request(self, path: str, data: dict | None = None) -> tuple[int, str, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body)  # noqa: S310 - loopback only
        if data is not None:
            request.add_header("Referer", self.base + path)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.geturl(), response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.geturl(), exc.read().decode(errors="replace")

    def cookie(self, name: str) -> str:
        return next(c.value for c in self.cookies if c.name == name)


def stack_pids(var_dir: str) -> list[int]:
    """Processes whose environment names our temporary OMS_VAR_DIR: the stack and its children."""
    marker = f"OMS_VAR_DIR={var_dir}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                state = (proc / "stat").read_text().split(") ", 1)[1][0]
                if state != "Z":
                    pids.append(int(proc.name))
        except (FileNotFoundError, PermissionError, ProcessLookupError, IndexError):
            continue
    return pids


def describe(pid: int) -> str:
    """``ppid pgid: command line`` of a process, for the failure report."""
    try:
        fields = (Path("/proc") / str(pid) / "stat").read_text().split(") ", 1)[1].split()
        cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return "gone"
    return f"ppid {fields[1]} pgid {fields[2]}: {cmdline.strip()}"


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"smoke: FAILED: {message}")
    print(f"smoke: ok: {message}", flush=True)


def run_checks(base: str, password: str, stack: subprocess.Popen) -> None:
    browser = Browser(base)
    deadline = time.monotonic() + READY_TIMEOUT
    status = None
    while time.monotonic() < deadline:
        if stack.poll() is not None:
            raise SystemExit(f"smoke: FAILED: make demo exited with {stack.returncode} before /readyz answered")
        try:
            status, _url, body = browser.request("/readyz")
            if status == 200:
                break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(2)
    check(status == 200, "/readyz answers 200 on the embedded default")

    status, _url, page = browser.request("/admin/login/")
    check(status == 200, "/admin/login/ answers 200")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    status, url, _page = browser.request(
        "/admin/login/?next=/admin/",
        {"csrfmiddlewaretoken": token, "username": "admin", "password": password, "next": "/admin/"},
    )
    check(status == 200 and url.rstrip("/").endswith("/admin"), "the demo admin logs in through the login form")
    check(bool(browser.cookie("sessionid")), "a session cookie is set")

    status, _url, body = browser.request(API_LIST)
    check(status == 200, f"GET {API_LIST} answers 200 for the logged-in admin")
    check(body.lstrip().startswith("{"), f"{API_LIST} returns JSON")


def main() -> int:
    var_dir = tempfile.mkdtemp(prefix="oms-smoke-")
    port = free_port()
    password = secrets.token_urlsafe(16)
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "CELERY_BROKER_URL",
            "ELASTICSEARCH_URL",
            "DJANGO_SETTINGS_MODULE",
            "SECRET_KEY",
            "DEBUG",
        }
    }
    env.update({"OMS_VAR_DIR": var_dir, "PORT": str(port), "DEMO_ADMIN_PASSWORD": password})
    log_path = Path(var_dir) / "demo.log"
    print(f"smoke: make demo on port {port}, var dir {var_dir}, log {log_path}", flush=True)
    with log_path.open("wb") as log:
        stack = subprocess.Popen(  # noqa: S603 - our own Makefile
            [shutil.which("make") or "/usr/bin/make", "demo"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            run_checks(f"http://127.0.0.1:{port}", password, stack)
        except BaseException:
            print(log_path.read_text(errors="replace")[-6000:], file=sys.stderr)
            raise
        finally:
            stopping = time.monotonic()
            if stack.poll() is None:
                os.killpg(stack.pid, signal.SIGTERM)
            try:
                stack.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(stack.pid, signal.SIGKILL)
                stack.wait()
            deadline = time.monotonic() + 30
            while stack_pids(var_dir) and time.monotonic() < deadline:
                time.sleep(1)
            print(f"smoke: the stack took {time.monotonic() - stopping:.1f} s to stop", flush=True)
            leftovers = {pid: describe(pid) for pid in stack_pids(var_dir)}
            for pid in leftovers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    if leftovers:
        print(log_path.read_text(errors="replace")[-6000:], file=sys.stderr)
    check(not leftovers, f"the stack stopped and left no process behind (left: {leftovers})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
