"""Token-bucket rate limits in Redis, atomic across processes (one Lua script per request).

A bucket holds up to ``burst`` tokens and refills at ``per_minute`` tokens a minute; a request
takes one token or is refused. Over any minute a caller gets at most ``per_minute + burst``.
The script reads Redis's own clock, so web processes on several hosts share one time line.
Keys carry the subject in a hash tag (``ratelimit:{<app key>}:<kind>``) so a Redis Cluster
keeps each caller's buckets on one node.

Core knows no shops: callers pass the subject and the ``Limit`` to apply. The buckets live in
the cache alias ``ratelimit`` (``RATE_LIMIT_REDIS_URL``); without a Redis there is no limit
(the embedded default). When Redis does not answer the limiter fails open: the request goes
through, a warning is logged and ``fail_open_total()`` counts it (shown by ``/readyz``).
"""

import logging
import math
import threading
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.utils.translation import gettext as _

from apps.core.dependencies import CACHE_ERRORS
from apps.core.error_codes import CoreErrorCode
from apps.core.exceptions import ApplicationError

logger = logging.getLogger(__name__)

CACHE_ALIAS = "ratelimit"

# KEYS[1] bucket; ARGV[1] refill rate (tokens per second), ARGV[2] capacity (burst).
# Returns {1 if a token was taken else 0, tokens left as a string (Lua numbers lose fractions)}.
_BUCKET_SCRIPT = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local taken = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {taken, tostring(tokens)}
"""


@dataclass(frozen=True)
class Limit:
    per_minute: int
    burst: int

    @property
    def per_second(self) -> float:
        return self.per_minute / 60


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: Limit
    remaining: int  # whole tokens left
    retry_after: int  # seconds until the next token (0 when allowed)
    reset: int  # seconds until the bucket is full again

    def headers(self) -> dict[str, str]:
        """``RateLimit-*`` (IETF httpapi draft) and, when refused, ``Retry-After``."""
        headers = {
            "RateLimit-Limit": str(self.limit.per_minute),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
            "RateLimit-Policy": f"{self.limit.per_minute};w=60;burst={self.limit.burst}",
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


_fail_open = 0
_fail_open_lock = threading.Lock()


def fail_open_total() -> int:
    """Requests let through in this process because the limiter's Redis did not answer."""
    return _fail_open


def _count_fail_open() -> None:
    global _fail_open
    with _fail_open_lock:
        _fail_open += 1


def _redis():
    """The raw client of the ``ratelimit`` cache, or None when it is not a django-redis cache."""
    if CACHE_ALIAS not in settings.CACHES:
        return None
    cache = caches[CACHE_ALIAS]
    client = getattr(cache, "client", None)
    return client.get_client(write=True) if client is not None else None


def bucket_key(subject: str, kind: str) -> str:
    return f"ratelimit:{{{subject}}}:{kind}"


def rate_limit_take(*, subject: str, kind: str, limit: Limit) -> RateDecision | None:
    """Take one token from ``subject``'s ``kind`` bucket. None: no limit applies (no Redis
    configured, or Redis down: failed open)."""
    if not settings.RATE_LIMIT_ENABLED:
        return None
    try:
        connection = _redis()
        if connection is None:
            return None
        taken, left = connection.register_script(_BUCKET_SCRIPT)(
            keys=[bucket_key(subject, kind)], args=[limit.per_second, limit.burst]
        )
    except CACHE_ERRORS:
        _count_fail_open()
        logger.warning("rate limiter unavailable: %s %s let through unlimited", subject, kind, exc_info=True)
        return None
    tokens = float(left)
    return RateDecision(
        allowed=bool(taken),
        limit=limit,
        remaining=math.floor(tokens),
        retry_after=0 if taken else max(1, math.ceil((1 - tokens) / limit.per_second)),
        reset=math.ceil((limit.burst - tokens) / limit.per_second),
    )


class RateLimited(ApplicationError):
    """429 ``rate_limited``, with ``Retry-After`` and the ``RateLimit-*`` headers."""

    status_code = 429

    def __init__(self, decision: RateDecision, *, kind: str):
        super().__init__(
            CoreErrorCode.RATE_LIMITED,
            _("Too many requests; retry after %(seconds)d seconds.") % {"seconds": decision.retry_after},
            {"kind": kind, "per_minute": decision.limit.per_minute, "burst": decision.limit.burst},
            headers=decision.headers(),
        )


class RateLimitHeadersMiddleware:
    """Adds the ``RateLimit-*`` headers to every answer of a rate-limited request (the 429s
    carry them already), so clients can pace themselves before they are refused."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        decision = getattr(request, "rate_limit_decision", None)
        if decision is not None:
            for name, value in decision.headers().items():
                response.headers.setdefault(name, value)
        return response
