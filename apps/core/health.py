"""``/healthz``: the process answers. ``/readyz``: each dependency answers.

The database, cache and broker are required: one down makes ``/readyz`` answer 503. Search
is not: when Elasticsearch (or its index alias) is unreachable, searches fall back to the
database, so the process stays ready and the body reports search as ``degraded``. Read
replicas neither: one that lags or is down is bypassed (reads go to the primary), ``degraded``.
"""

import importlib
import logging

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse

from apps.core.replicas import replica_states

logger = logging.getLogger(__name__)


def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_cache() -> None:
    cache.set("readyz", "1", timeout=5)
    if cache.get("readyz") != "1":
        raise RuntimeError("cache did not return the value just written")


def _check_broker() -> None:
    from oms.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


class ReplicaUnhealthy(Exception):
    """A read replica lags, stopped replicating or does not answer: its reads go to the primary."""


def _check_replicas() -> None:
    unhealthy = [state for state in replica_states(fresh=True) if not state.healthy]
    if unhealthy:
        raise ReplicaUnhealthy(", ".join(f"{state.alias}: {state.reason}" for state in unhealthy))


def _check_search() -> None:
    module = importlib.import_module("apps.orders.search")
    module.get_backend().ping()


CHECKS = {
    "database": _check_database,
    "cache": _check_cache,
    "broker": _check_broker,
    "search": _check_search,
    "replicas": _check_replicas,
}


OPTIONAL = frozenset({"search", "replicas"})


def readyz(request):
    results = {}
    ready, degraded = True, False
    for name, check in CHECKS.items():
        if name == "replicas" and not settings.DATABASE_REPLICAS:
            continue
        required = name not in OPTIONAL
        try:
            check()
            results[name] = {"status": "ok", "required": required}
        except Exception as exc:  # any failure is reported, per dependency
            # The probe is unauthenticated: the answer names the failing dependency and the
            # error type only; host names and credentials in the message go to the log.
            logger.warning("readyz: %s is down", name, exc_info=True)
            status = "error" if required else "degraded"
            results[name] = {"status": status, "required": required, "error": type(exc).__name__}
            ready = ready and not required
            degraded = degraded or not required
    results_body = {
        "status": "unavailable" if not ready else "degraded" if degraded else "ok",
        "checks": results,
        "search_backend": settings.SEARCH_BACKEND,
    }
    return JsonResponse(results_body, status=200 if ready else 503)
