"""``Idempotency-Key`` for POSTs that create things.

The key is claimed by inserting its row as the first statement of the request's transaction,
and the response is stored in that same transaction (an UPDATE of the row), so the claim, the
created objects and the stored response commit or roll back together: two statements. A
concurrent duplicate blocks on the unique index until the first request finishes, then reads
and replays its response (or, if the first failed and rolled back, runs itself). Errors are
not stored: a failed request leaves no rows, and a retry with the same key runs again. The same
key with a different body is refused (422). A key past its retention is replaced when reused.

The claim is plain SQL on purpose: a duplicate key is an expected answer here, and the
database keeps the transaction usable after it (no savepoint), which Django's ORM would mark
for rollback.
"""

import functools
import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.response import Response

from apps.core.api.authentication import SignedCaller
from apps.core.db import retry_on_deadlock
from apps.core.error_codes import CoreErrorCode
from apps.core.exceptions import ApplicationError, Unprocessable
from apps.core.models import IdempotencyKey
from apps.core.retention import delete_in_batches

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


class _Refused(Exception):
    def __init__(self, response: Response):
        self.response = response


def _scope(request) -> str:
    if isinstance(request.user, SignedCaller):
        return request.user.caller_key
    return f"user:{getattr(request.user, 'pk', None) or 'anonymous'}"


def _fingerprint(request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\n")
    digest.update(request.path.encode())
    digest.update(b"\n")
    digest.update(request.body)
    return digest.hexdigest()


def _replay(record: IdempotencyKey) -> Response:
    response = Response(record.response_body, status=record.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(view_method):
    """Decorate an APIView ``post``: with the header, run it at most once per key."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view_method(self, request, *args, **kwargs)
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ApplicationError(
                CoreErrorCode.INVALID_IDEMPOTENCY_KEY,
                _("Idempotency-Key must be 1 to 255 characters."),
            )
        return _claim_and_run(
            view_method, self, request, args, kwargs, scope=_scope(request), key=key, fingerprint=_fingerprint(request)
        )

    # Read by the OpenAPI schema: documents the header and its errors on this operation.
    wrapper.accepts_idempotency_key = True
    return wrapper


class _Replay(Exception):
    """The key belongs to an earlier request: end the transaction and answer with ``response``."""

    def __init__(self, response: Response):
        self.response = response


@retry_on_deadlock
def _claim_and_run(view_method, view, request, args, kwargs, *, scope: str, key: str, fingerprint: str):
    """Claim the key and run the view in one transaction; replay when the key is taken.

    A deadlock victim (two first requests racing on the key and the stock rows) is run again.
    """
    try:
        with transaction.atomic():
            _claim(scope=scope, key=key, fingerprint=fingerprint)
            response = view_method(view, request, *args, **kwargs)
            if response.status_code >= 400:
                raise _Replay(response)
            IdempotencyKey.objects.filter(scope=scope, key=key).update(
                response_status=response.status_code, response_body=response.data
            )
            return response
    except _Replay as replay:
        return replay.response


def _claim(*, scope: str, key: str, fingerprint: str) -> None:
    """Insert the key row; when another request's committed row holds the key, raise its replay
    (or the refusal of a different body). A row past its retention is replaced."""
    now = timezone.now()
    for _attempt in range(2):
        if _insert(scope=scope, key=key, fingerprint=fingerprint, now=now):
            return
        existing = IdempotencyKey.objects.filter(scope=scope, key=key).first()
        if existing is None or existing.expires_at < now:
            IdempotencyKey.objects.filter(scope=scope, key=key, expires_at__lt=now).delete()
            continue
        if existing.fingerprint != fingerprint:
            raise Unprocessable(
                CoreErrorCode.IDEMPOTENCY_CONFLICT,
                _("This Idempotency-Key was already used with a different request."),
            )
        if existing.response_status is None:
            raise ApplicationError(
                CoreErrorCode.IDEMPOTENCY_IN_PROGRESS,
                _("A request with this Idempotency-Key is still being processed; retry shortly."),
                status_code=409,
            )
        raise _Replay(_replay(existing))
    raise ApplicationError(
        CoreErrorCode.IDEMPOTENCY_IN_PROGRESS,
        _("A request with this Idempotency-Key is still being processed; retry shortly."),
        status_code=409,
    )


def _insert(*, scope: str, key: str, fingerprint: str, now) -> bool:
    """The claim row inserted (True), or the key already taken (False, nothing changed)."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in ("scope", "key", "fingerprint", "created_at", "expires_at"))
    table = quote(IdempotencyKey._meta.db_table)
    expires = now + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    adapt = connection.ops.adapt_datetimefield_value
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s)",  # noqa: S608 - quoted names only
                [scope, key, fingerprint, adapt(now), adapt(expires)],
            )
    except IntegrityError:
        return False
    return True


def idempotency_keys_purge() -> int:
    """Delete keys past their retention (beat job), in batches."""
    return delete_in_batches(IdempotencyKey.objects.filter(expires_at__lt=timezone.now()))
