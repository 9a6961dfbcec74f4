"""``/healthz``: the process answers. ``/readyz``: each dependency answers.

Each dependency is checked by a probe that the code owning it registers with
``probe_register``: core the database, the cache and the read replicas, the project's Celery
module the broker, order search its backend. A required probe failing makes ``/readyz`` answer
503. An optional one keeps the process ready and reports ``degraded``: search (when
Elasticsearch or its index alias is unreachable, searches fall back to the database) and read
replicas (one that lags or is down is bypassed: reads go to the primary), payment providers
(payments: a misconfigured provider's payments wait; a check may raise ``Degraded`` with details).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache, caches
from django.db import connection
from django.http import JsonResponse

from apps.core import ratelimit
from apps.core.replicas import replica_states

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Probe:
    name: str
    # Raises when the dependency does not answer (``Degraded`` when it answers with trouble);
    # may return details (a dict) to show.
    check: Callable[[], dict | None]
    required: bool = True
    # Top-level fields of the /readyz body this probe's owner reports (name -> value getter).
    facts: dict[str, Callable[[], object]] = field(default_factory=dict)
    # Whether the dependency is configured at all (read at each call: settings may change).
    enabled: Callable[[], bool] = lambda: True


PROBES: dict[str, Probe] = {}


def probe_register(
    name: str,
    check: Callable[[], dict | None],
    *,
    required: bool = True,
    facts: dict[str, Callable[[], object]] | None = None,
    enabled: Callable[[], bool] | None = None,
) -> None:
    """Add (or replace) the probe called ``name``; ``/readyz`` runs probes in registration order."""
    PROBES[name] = Probe(
        name=name, check=check, required=required, facts=facts or {}, enabled=enabled or (lambda: True)
    )


def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_cache() -> None:
    cache.set("readyz", "1", timeout=5)
    if cache.get("readyz") != "1":
        raise RuntimeError("cache did not return the value just written")


class ReplicaUnhealthy(Exception):
    """A read replica lags, stopped replicating or does not answer: its reads go to the primary."""


def _check_replicas() -> None:
    unhealthy = [state for state in replica_states(fresh=True) if not state.healthy]
    if unhealthy:
        raise ReplicaUnhealthy(", ".join(f"{state.alias}: {state.reason}" for state in unhealthy))


class Degraded(Exception):
    """Raised by an optional probe that answers but reports trouble; ``details`` are shown."""

    def __init__(self, details: dict):
        super().__init__(details)
        self.details = details


probe_register("database", _check_database)
probe_register("cache", _check_cache)
probe_register("replicas", _check_replicas, required=False, enabled=lambda: bool(settings.DATABASE_REPLICAS))


# Requests this process let through unlimited because the limiter's Redis was down.
def _check_rate_limiter() -> None:
    caches["ratelimit"].get("readyz")


probe_register(
    "rate_limiter",
    _check_rate_limiter,
    required=False,
    enabled=lambda: "ratelimit" in settings.CACHES,
    facts={"rate_limiter": lambda: {"fail_open_total": ratelimit.fail_open_total()}},
)


def readyz(request):
    results = {}
    facts = {}
    ready, degraded = True, False
    for probe in list(PROBES.values()):
        if not probe.enabled():
            continue
        try:
            details = probe.check()
            results[probe.name] = {"status": "ok", "required": probe.required}
            if details:
                results[probe.name]["details"] = details
        except Degraded as exc:
            results[probe.name] = {"status": "degraded", "required": probe.required, "details": exc.details}
            ready = ready and not probe.required
            degraded = True
        except Exception as exc:  # any failure is reported, per dependency
            # The probe is unauthenticated: the answer names the failing dependency and the
            # error type only; host names and credentials in the message go to the log.
            logger.warning("readyz: %s is down", probe.name, exc_info=True)
            status = "error" if probe.required else "degraded"
            results[probe.name] = {"status": status, "required": probe.required, "error": type(exc).__name__}
            ready = ready and not probe.required
            degraded = degraded or not probe.required
        facts.update({key: value() for key, value in probe.facts.items()})
    body = {
        "status": "unavailable" if not ready else "degraded" if degraded else "ok",
        "checks": results,
        **facts,
    }
    return JsonResponse(body, status=200 if ready else 503)
