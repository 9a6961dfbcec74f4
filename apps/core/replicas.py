"""Read replicas: reads that may be a little stale go to a replica, everything else to the primary.

Nothing goes to a replica by default. Code that can live with a few seconds of staleness (admin
lists and counts, reports, the database search backend, exports, API lists) opts in with
``replica_reads()``; even then the read goes to the primary when

- the request or task has written (any statement other than a read on the primary), so it
  always reads its own writes; a web client that wrote keeps reading from the primary for
  ``DB_REPLICA_PIN_SECONDS`` (a cookie), so the page after a POST shows the change;
- the primary connection is inside a transaction;
- no replica is healthy: each replica's ``SHOW REPLICA STATUS`` is checked at most every
  ``DB_REPLICA_CHECK_SECONDS``; one whose threads are stopped, whose lag passes
  ``DB_REPLICA_MAX_LAG_SECONDS`` or that does not answer is bypassed (``/readyz`` says degraded).
"""

import contextlib
import contextvars
import logging
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

logger = logging.getLogger(__name__)

_stale_ok: contextvars.ContextVar[bool] = contextvars.ContextVar("oms_replica_reads", default=False)
_despite_writes: contextvars.ContextVar[bool] = contextvars.ContextVar("oms_replica_despite_writes", default=False)
_wrote: contextvars.ContextVar[bool] = contextvars.ContextVar("oms_wrote_primary", default=False)

PIN_COOKIE = "oms_primary"
# Statements that only read: anything else on the primary pins the request or task to it.
_READ_VERBS = ("SELECT", "SHOW", "EXPLAIN", "DESCRIBE", "(SELECT", "WITH")


@contextmanager
def replica_reads(*, despite_own_writes: bool = False) -> Iterator[None]:
    """Reads inside may be served by a replica (a few seconds stale at most). Also a decorator.

    ``despite_own_writes``: the reads do not depend on what this request or task wrote (a
    report job reads orders and writes only reports), so earlier writes do not pin them."""
    token = _stale_ok.set(True)
    despite = _despite_writes.set(despite_own_writes)
    try:
        yield
    finally:
        _despite_writes.reset(despite)
        _stale_ok.reset(token)


def primary_pinned() -> bool:
    """Whether the current request or task has written to the primary."""
    return _wrote.get()


def pin_to_primary() -> None:
    _wrote.set(True)


def unpin() -> None:
    """A new request or task starts: it has written nothing yet."""
    _wrote.set(False)


@dataclass(frozen=True)
class ReplicaState:
    alias: str
    healthy: bool
    lag_seconds: int | None
    reason: str


_states: dict[str, tuple[float, ReplicaState]] = {}
_states_lock = threading.Lock()


def _probe(alias: str) -> ReplicaState:
    max_lag = settings.DB_REPLICA_MAX_LAG_SECONDS
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SHOW REPLICA STATUS")
            row = cursor.fetchone()
            columns = [column[0] for column in cursor.description or ()]
    except DatabaseError as exc:
        logger.warning("replica %s does not answer: %s", alias, exc)
        # The server is gone: drop the connection, the next use opens a new one.
        with contextlib.suppress(DatabaseError):
            connections[alias].close()
        return ReplicaState(alias, False, None, "unavailable")
    if row is None:
        return ReplicaState(alias, False, None, "not_replicating")
    status = dict(zip(columns, row, strict=True))
    # MariaDB keeps the Slave_/Master names; MySQL 8 says Replica_/Source.
    io = status.get("Slave_IO_Running", status.get("Replica_IO_Running"))
    sql = status.get("Slave_SQL_Running", status.get("Replica_SQL_Running"))
    lag = status.get("Seconds_Behind_Master", status.get("Seconds_Behind_Source"))
    lag = None if lag is None else int(lag)
    if io != "Yes" or sql != "Yes" or lag is None:
        return ReplicaState(alias, False, lag, "stopped")
    if lag > max_lag:
        return ReplicaState(alias, False, lag, "lagging")
    return ReplicaState(alias, True, lag, "ok")


def replica_state(alias: str, *, fresh: bool = False) -> ReplicaState:
    """The replica's state, probed at most every ``DB_REPLICA_CHECK_SECONDS`` per process."""
    now = time.monotonic()
    with _states_lock:
        cached = _states.get(alias)
    if not fresh and cached is not None and now - cached[0] < settings.DB_REPLICA_CHECK_SECONDS:
        return cached[1]
    state = _probe(alias)
    with _states_lock:
        _states[alias] = (time.monotonic(), state)
    return state


def replica_states(*, fresh: bool = False) -> list[ReplicaState]:
    return [replica_state(alias, fresh=fresh) for alias in settings.DATABASE_REPLICAS]


def read_alias() -> str:
    """The database the next read goes to."""
    replicas = settings.DATABASE_REPLICAS
    if not replicas or not _stale_ok.get() or connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    if _wrote.get() and not _despite_writes.get():
        return DEFAULT_DB_ALIAS
    # A random first choice spreads the reads; the others stand in for an unhealthy one.
    start = random.randrange(len(replicas))
    for alias in replicas[start:] + replicas[:start]:
        if replica_state(alias).healthy:
            return alias
    return DEFAULT_DB_ALIAS


class PrimaryReplicaRouter:
    """``DATABASE_ROUTERS`` entry: writes to the primary, opted-in reads as ``read_alias``."""

    def db_for_read(self, model, **hints) -> str:
        return read_alias()

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        # A replica holds the same rows as the primary.
        return True

    def allow_migrate(self, db, app_label, **hints) -> bool:
        return db == DEFAULT_DB_ALIAS


def _pin_on_write(execute, sql, params, many, context):
    if not sql.lstrip()[:8].upper().startswith(_READ_VERBS):
        _wrote.set(True)
    return execute(sql, params, many, context)


def install_write_detector(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: every statement on the primary that is not a read pins
    the current request or task to the primary (raw SQL included, not only the ORM)."""
    if connection.alias == DEFAULT_DB_ALIAS and _pin_on_write not in connection.execute_wrappers:
        connection.execute_wrappers.append(_pin_on_write)


def reset_scope(**kwargs) -> None:
    """``request_started`` / ``task_prerun`` receiver."""
    unpin()


class ReplicaPinMiddleware:
    """Carries "this client wrote" across requests for ``DB_REPLICA_PIN_SECONDS``, so the page
    after a POST (or an API read after a write) reads from the primary."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not settings.DATABASE_REPLICAS:
            return self.get_response(request)
        try:
            pinned_until = float(request.COOKIES.get(PIN_COOKIE, "0"))
        except ValueError:
            pinned_until = 0.0
        if pinned_until > time.time():
            pin_to_primary()
        response = self.get_response(request)
        if primary_pinned() and pinned_until <= time.time():
            seconds = settings.DB_REPLICA_PIN_SECONDS
            response.set_cookie(PIN_COOKIE, str(time.time() + seconds), max_age=seconds, httponly=True, samesite="Lax")
        return response


class ReplicaReadsAdminMixin:
    """Admin list pages (rows and counts) read from a replica. The page renders inside too: the
    columns computed per row (``list_display`` methods) query while the template renders."""

    def changelist_view(self, request, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            return super().changelist_view(request, extra_context)
        with replica_reads():
            response = super().changelist_view(request, extra_context)
            if hasattr(response, "render"):
                response.render()
        return response
