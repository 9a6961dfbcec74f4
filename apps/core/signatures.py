"""HMAC-SHA256 request signatures for platforms and storefront apps.

Headers: ``X-App-Key``, ``X-Timestamp`` (Unix seconds), ``X-Nonce`` and ``X-Signature``
(lower-case hex). The signed string is::

    METHOD \\n PATH?QUERY \\n TIMESTAMP \\n NONCE \\n hex(sha256(body))

A timestamp further than ``API_SIGNATURE_MAX_SKEW_SECONDS`` from now is refused, and a
nonce is accepted once per app key within twice that window (remembered in the cache).
"""

import hashlib
import hmac
import time

from django.conf import settings
from django.core.cache import cache

from apps.core.dependencies import CACHE_ERRORS, DependencyUnavailable

HEADER_APP_KEY = "X-App-Key"
HEADER_TIMESTAMP = "X-Timestamp"
HEADER_NONCE = "X-Nonce"
HEADER_SIGNATURE = "X-Signature"


class SignatureError(Exception):
    """Why a request was refused; logged, never shown to the caller."""


def signing_string(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()]).encode()


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return hmac.new(secret.encode(), signing_string(method, path, timestamp, nonce, body), hashlib.sha256).hexdigest()


def signed_headers(
    app_key: str, secret: str, method: str, path: str, body: bytes, *, nonce: str, timestamp: int | None = None
) -> dict[str, str]:
    """The headers a client sends; used by our simulators, tests and SDK examples."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        HEADER_APP_KEY: app_key,
        HEADER_TIMESTAMP: ts,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: sign(secret, method, path, ts, nonce, body),
    }


def verify(
    *, app_key: str, secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes, signature: str
) -> None:
    """Raise SignatureError unless the request is fresh, unreplayed and correctly signed.

    A caller without a secret (a shop saved without one, a secret missing from the
    environment) is refused: an empty key would let anyone sign."""
    if not secret:
        raise SignatureError(f"no secret is configured for app key {app_key!r}")
    try:
        ts = int(timestamp)
    except (TypeError, ValueError) as exc:
        raise SignatureError("timestamp is not an integer") from exc
    skew = settings.API_SIGNATURE_MAX_SKEW_SECONDS
    if abs(time.time() - ts) > skew:
        raise SignatureError(f"timestamp {ts} outside the allowed skew of {skew}s")
    if not nonce or len(nonce) > 64:
        raise SignatureError("nonce missing or longer than 64 characters")
    expected = sign(secret, method, path, timestamp, nonce, body)
    if not hmac.compare_digest(expected, (signature or "").lower()):
        raise SignatureError("signature mismatch")
    try:
        first_use = cache.add(f"api-nonce:{app_key}:{nonce}", 1, timeout=2 * skew)
    except CACHE_ERRORS as exc:
        # Without the nonce store a replay cannot be told apart: refuse for now, as a 503.
        raise DependencyUnavailable("cache") from exc
    if not first_use:
        raise SignatureError(f"nonce {nonce!r} replayed")
