"""``/healthz``: the process answers. ``/readyz``: each dependency answers (503 if one does not)."""

import importlib
import logging

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse

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


def _check_search() -> None:
    module = importlib.import_module("apps.orders.search")
    module.get_backend().ping()


CHECKS = {
    "database": _check_database,
    "cache": _check_cache,
    "broker": _check_broker,
    "search": _check_search,
}


def _required(name: str) -> bool:
    """Search is required only when orders are searched in Elasticsearch (read per request)."""
    return name != "search" or settings.SEARCH_BACKEND == "elasticsearch"


def readyz(request):
    results = {}
    ready = True
    for name, check in CHECKS.items():
        required = _required(name)
        try:
            check()
            results[name] = {"status": "ok", "required": required}
        except Exception as exc:  # any failure is reported, per dependency
            # The probe is unauthenticated: the answer names the failing dependency and the
            # error type only; host names and credentials in the message go to the log.
            logger.warning("readyz: %s is down", name, exc_info=True)
            results[name] = {"status": "error", "required": required, "error": type(exc).__name__}
            ready = ready and not required
    results_body = {
        "status": "ok" if ready else "unavailable",
        "checks": results,
        "search_backend": settings.SEARCH_BACKEND,
    }
    return JsonResponse(results_body, status=200 if ready else 503)
