"""``Idempotency-Key`` for POSTs that create things.

The key is claimed by inserting a row at the start of the request's transaction and the
response is stored in that same transaction, so the claim, the created objects and the
stored response commit or roll back together. A concurrent duplicate blocks on the unique
index until the first request finishes, then replays its response (or, if the first failed
and rolled back, runs itself). Errors are not stored: a failed request leaves no rows, and
a retry with the same key runs again. The same key with a different body is refused (422).
"""

import functools
import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
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
        scope = _scope(request)
        fingerprint = _fingerprint(request)
        response = _claim_and_run(
            view_method, self, request, args, kwargs, scope=scope, key=key, fingerprint=fingerprint
        )
        if response is not None:
            return response
        existing = IdempotencyKey.objects.filter(scope=scope, key=key).first()
        if existing is not None and existing.fingerprint != fingerprint:
            raise Unprocessable(
                CoreErrorCode.IDEMPOTENCY_CONFLICT,
                _("This Idempotency-Key was already used with a different request."),
            )
        if existing is None or existing.response_status is None:
            raise ApplicationError(
                CoreErrorCode.IDEMPOTENCY_IN_PROGRESS,
                _("A request with this Idempotency-Key is still being processed; retry shortly."),
                status_code=409,
            )
        return _replay(existing)

    # Read by the OpenAPI schema: documents the header and its errors on this operation.
    wrapper.accepts_idempotency_key = True
    return wrapper


@retry_on_deadlock
def _claim_and_run(view_method, view, request, args, kwargs, *, scope: str, key: str, fingerprint: str):
    """Claim the key and run the view in one transaction; None when another request owns the key.

    A deadlock victim (two first requests racing on the key and the stock rows) is run again.
    """
    try:
        with transaction.atomic():
            record = _claim(scope=scope, key=key, fingerprint=fingerprint)
            if record is None:
                return None
            response = view_method(view, request, *args, **kwargs)
            if response.status_code >= 400:
                raise _Refused(response)
            record.response_status = response.status_code
            record.response_body = response.data
            record.save(update_fields=["response_status", "response_body"])
            return response
    except _Refused as refused:
        return refused.response


def _claim(*, scope: str, key: str, fingerprint: str) -> IdempotencyKey | None:
    """Insert the key row; None when another (committed) request owns the key."""
    now = timezone.now()
    IdempotencyKey.objects.filter(scope=scope, key=key, expires_at__lt=now).delete()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                scope=scope,
                key=key,
                fingerprint=fingerprint,
                expires_at=now + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS),
            )
    except IntegrityError:
        return None


def idempotency_keys_purge() -> int:
    """Delete keys past their retention (beat job), in batches."""
    return delete_in_batches(IdempotencyKey.objects.filter(expires_at__lt=timezone.now()))
