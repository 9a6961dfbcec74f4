"""HMAC-SHA256 request signatures for platforms and storefront apps.

Headers: ``X-App-Key``, ``X-Timestamp`` (Unix seconds), ``X-Nonce`` and ``X-Signature``
(lower-case hex). The signed string is::

    METHOD \\n CANONICAL_TARGET \\n TIMESTAMP \\n NONCE \\n hex(sha256(body))

``CANONICAL_TARGET`` is the request's path and query in one canonical spelling, so a client
and the server agree whatever escapes the client, a proxy or the WSGI server chose: the path
percent-decoded (UTF-8) and re-encoded with everything but ``A-Z a-z 0-9 - . _ ~ /`` as
upper-case ``%XX``; the query's ``name=value`` pairs in the order sent, each name and value
decoded as a form would be (``+`` is a space) and re-encoded the same way (``/`` too), joined
by ``&``, after a ``?`` when there is a query. docs/API.md works an example through;
docs/signature-vectors.json holds vectors a client can check itself against.

A timestamp further than ``API_SIGNATURE_MAX_SKEW_SECONDS`` from now is refused, and a
nonce is accepted once per app key within twice that window (remembered in the cache).
"""

import hashlib
import hmac
import time
from urllib.parse import quote, unquote, unquote_plus

from django.conf import settings
from django.core.cache import cache

from apps.core.dependencies import CACHE_ERRORS, DependencyUnavailable

HEADER_APP_KEY = "X-App-Key"
HEADER_TIMESTAMP = "X-Timestamp"
HEADER_NONCE = "X-Nonce"
HEADER_SIGNATURE = "X-Signature"


class SignatureError(Exception):
    """Why a request was refused; logged, never shown to the caller."""


def canonical_target(target: str) -> str:
    """The canonical spelling of a path with an optional query (see the module docstring)."""
    path, _, query = target.partition("?")
    canonical = quote(unquote(path), safe="/")
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append(f"{quote(unquote_plus(name), safe='')}={quote(unquote_plus(value), safe='')}")
    return f"{canonical}?{'&'.join(pairs)}" if pairs else canonical


def request_target(path: str, query_string: str) -> str:
    """The target to verify for a request the server received: its (already decoded) path
    re-encoded, and its raw query string."""
    encoded = quote(path, safe="/")
    return f"{encoded}?{query_string}" if query_string else encoded


def signing_string(method: str, target: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join(
        [method.upper(), canonical_target(target), timestamp, nonce, hashlib.sha256(body).hexdigest()]
    ).encode()


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
