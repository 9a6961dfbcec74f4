"""Gunicorn config the HTTP benchmark adds (``--config``): each worker counts the SQL
statements its Django connections execute into its slot of a shared file
(``BENCH_COUNTER_FILE``, 8 bytes per worker), which the benchmark reads between phases.

The count comes from the application, not from MariaDB's global status, because the
database server may serve other clients at the same time.
"""

import mmap
import os
import runpy
import struct
import threading
from pathlib import Path

# Production's settings first (workers, threads, limits, JSON refusals), then the counting hook.
globals().update(
    {
        name: value
        for name, value in runpy.run_path(
            str(Path(__file__).resolve().parent.parent / "docker" / "gunicorn.conf.py")
        ).items()
        if not name.startswith("__")
    }
)

SLOTS = 64


def post_fork(server, worker):
    from django.db.backends.signals import connection_created

    path = os.environ["BENCH_COUNTER_FILE"]
    with open(path, "r+b") as handle:
        counter = mmap.mmap(handle.fileno(), SLOTS * 8)
    offset = (worker.age % SLOTS) * 8
    lock = threading.Lock()
    state = {"statements": 0}

    def count(execute, sql, params, many, context):
        with lock:
            state["statements"] += 1
            struct.pack_into("<Q", counter, offset, state["statements"])
        return execute(sql, params, many, context)

    def on_connection(sender, connection, **kwargs):
        # The wrapper list outlives a reconnect (``CONN_MAX_AGE=0`` reconnects per request).
        if count not in connection.execute_wrappers:
            connection.execute_wrappers.append(count)

    connection_created.connect(on_connection, weak=False)
