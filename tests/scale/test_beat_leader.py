"""One beat, always: two real beat processes on one database send each job once per tick;
when the leading beat dies, the other takes over."""

import itertools
import json
import signal
import time
from pathlib import Path

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from tests.scale.servers import celery, stop, wait_until

pytestmark = [pytest.mark.scale, pytest.mark.django_db(transaction=True)]

EVERY = 2  # seconds between two runs of the test job
JOB = "scale.tick"


def sends(folder: Path) -> list[float]:
    """When beat sent the test job, in seconds (the filesystem broker names each message
    after the system's monotonic clock in milliseconds, the same for every process)."""
    times = []
    for path in folder.glob("*.msg"):
        if json.loads(path.read_text())["headers"]["task"] == JOB:
            times.append(int(path.name.split("_", 1)[0]) / 1000)
    return sorted(times)


def leading(log: Path) -> bool:
    return "holds the leader lock" in log.read_text()


def test_two_beats_send_each_job_once_per_tick_and_the_standby_takes_over(tmp_path):
    every, _ = IntervalSchedule.objects.get_or_create(every=EVERY, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name=JOB, task=JOB, interval=every)
    env = {"CELERY_BROKER_URL": "filesystem://", "OMS_VAR_DIR": str(tmp_path)}
    messages = tmp_path / "broker" / "in"
    logs = [tmp_path / "beat-a.log", tmp_path / "beat-b.log"]
    beats = [celery("beat", "--pidfile=", log=log, **env) for log in logs]
    try:
        wait_until(lambda: any(leading(log) for log in logs), timeout=60, what="a beat to lead")
        wait_until(lambda: len(sends(messages)) >= 1, timeout=30, what="the first run")
        window_start = time.monotonic()
        time.sleep(6 * EVERY)
        window = sends(messages)
        window = [t for t in window if t >= window_start - EVERY]
        assert all(beat.poll() is None for beat in beats)  # the second beat stands by, it does not exit
        assert len(window) <= 6 + 2  # two leaders would have sent about twice as many
        gaps = [b - a for a, b in itertools.pairwise(window)]
        assert min(gaps) > EVERY / 2, gaps  # never two sends of one tick
        assert [leading(log) for log in logs].count(True) == 1

        leader, standby = (0, 1) if leading(logs[0]) else (1, 0)
        stop(beats[leader], sig=signal.SIGKILL)
        killed_at = time.monotonic()
        wait_until(lambda: leading(logs[standby]), timeout=30, what="the standby to take over")
        wait_until(lambda: any(t > killed_at for t in sends(messages)), timeout=30, what="a run after the takeover")
        before, after = len(sends(messages)), time.monotonic()
        time.sleep(3 * EVERY)
        assert len(sends(messages)) - before <= (time.monotonic() - after) / EVERY + 1
    finally:
        for beat in beats:
            stop(beat)
