"""``/healthz``: the process answers. ``/readyz``: each dependency answers.

The database, cache and broker are required: one down makes ``/readyz`` answer 503. Search
is not: when Elasticsearch (or its index alias) is unreachable, searches fall back to the
database, so the process stays ready and the body reports search as ``degraded``. Apps add
their own checks with ``register_check`` (payments: each provider's configuration).
"""

import importlib
import logging

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse

from apps.core import ratelimit

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


OPTIONAL = {"search"}


class Degraded(Exception):
    """Raised by an optional check that answers but reports trouble; ``details`` are shown."""

    def __init__(self, details: dict):
        super().__init__(details)
        self.details = details


def register_check(name: str, check, *, required: bool = False) -> None:
    """Add an app's check (core imports no feature app): ``check()`` returns details to show
    (a dict) or None, or raises (``Degraded`` with details, or any error)."""
    CHECKS[name] = check
    if not required:
        OPTIONAL.add(name)


def readyz(request):
    results = {}
    ready, degraded = True, False
    for name, check in CHECKS.items():
        required = name not in OPTIONAL
        try:
            details = check()
            results[name] = {"status": "ok", "required": required}
            if details:
                results[name]["details"] = details
        except Degraded as exc:
            results[name] = {"status": "degraded", "required": required, "details": exc.details}
            ready = ready and not required
            degraded = True
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
        # Requests this process let through unlimited because the limiter's Redis was down.
        "rate_limiter": {"fail_open_total": ratelimit.fail_open_total()},
    }
    return JsonResponse(results_body, status=200 if ready else 503)
