import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from apps.core import supervisor
from apps.core.supervisor import run_processes


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_when_one_process_dies_the_others_and_their_children_are_stopped(tmp_path):
    pids = tmp_path / "pids"
    sleeper = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "print('sleeping', flush=True)\n"
        "time.sleep(120)\n"
    )
    quitter = (
        "import os, time\n"
        f"while not os.path.exists({str(pids)!r}): time.sleep(0.05)\n"
        "print('bye', flush=True)\n"
        "raise SystemExit(3)\n"
    )
    out = io.StringIO()

    outcome = run_processes(
        [("sleeper", [sys.executable, "-c", sleeper]), ("quit", [sys.executable, "-c", quitter])], out=out
    )

    assert outcome.name == "quit"
    assert outcome.returncode == 3
    leader, child = (int(pid) for pid in pids.read_text().split())
    assert not alive(leader)
    for _ in range(50):
        if not alive(child):
            break
        time.sleep(0.1)
    assert not alive(child), "the process group is stopped, not just its leader"
    lines = out.getvalue().splitlines()
    assert "quit    | bye" in lines
    assert "sleeper | sleeping" in lines


def test_sigterm_stops_every_process(tmp_path):
    marker = tmp_path / "started"
    stopper = (
        "import os, signal, time\n"
        f"open({str(marker)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(0.5)\n"
        f"os.kill({os.getpid()}, signal.SIGTERM)\n"
        "time.sleep(120)\n"
    )
    outcome = run_processes(
        [("a", [sys.executable, "-c", stopper]), ("b", [sys.executable, "-c", "import time; time.sleep(120)"])],
        out=io.StringIO(),
    )
    assert outcome.name is None
    assert not alive(int(marker.read_text()))


def test_processes_that_ignore_sigterm_are_killed(tmp_path, monkeypatch):
    monkeypatch.setattr(supervisor, "STOP_GRACE_SECONDS", 0.5)
    stubborn = (
        "import os, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"open(os.path.join({str(tmp_path)!r}, sys.argv[1]), 'w').write(str(os.getpid()))\n"
        "time.sleep(120)\n"
    )
    quitter = f"import os, time\nwhile len(os.listdir({str(tmp_path)!r})) < 2: time.sleep(0.05)\nraise SystemExit(0)\n"
    outcome = run_processes(
        [
            ("one", [sys.executable, "-c", stubborn, "one"]),
            ("two", [sys.executable, "-c", stubborn, "two"]),
            ("quit", [sys.executable, "-c", quitter]),
        ],
        out=io.StringIO(),
    )
    assert outcome.name == "quit"
    for name in ("one", "two"):
        assert not alive(int((tmp_path / name).read_text()))


def test_a_grandchild_that_left_its_group_is_killed_too(tmp_path):
    pid_file = tmp_path / "escaped"
    escaper = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], start_new_session=True)\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(120)\n"
    )
    quitter = f"import os, time\nwhile not os.path.exists({str(pid_file)!r}): time.sleep(0.05)\n"
    outcome = run_processes(
        [("escaper", [sys.executable, "-c", escaper]), ("quit", [sys.executable, "-c", quitter])], out=io.StringIO()
    )
    assert outcome.name == "quit"
    assert not alive(int(pid_file.read_text()))


def test_a_burst_of_sigterms_still_stops_the_stack(tmp_path):
    """``make`` forwards the SIGTERM its process group already got: the signals arrive in bursts."""
    started = tmp_path / "started"
    child = tmp_path / "child.py"
    child.write_text(f"import time\nopen({str(started)!r}, 'w').close()\ntime.sleep(120)\n")
    script = tmp_path / "supervise.py"
    script.write_text(
        "import io, sys\n"
        "from apps.core.supervisor import run_processes\n"
        f"outcome = run_processes([('child', [sys.executable, {str(child)!r}])], out=io.StringIO())\n"
        "print('stopped by', outcome.name)\n"
    )
    proc = subprocess.Popen(  # noqa: S603 - the test's own interpreter
        [sys.executable, str(script)],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists(), "the supervised child started"
        for _ in range(200):
            if proc.poll() is not None:
                break
            proc.send_signal(signal.SIGTERM)
        out, _err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert out.strip() == "stopped by None"
