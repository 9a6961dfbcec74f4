"""App key + HMAC-SHA256 request authentication (``apps.core.signatures``) for DRF.

A request without ``X-App-Key`` is left to the next authenticator (staff sessions). A request
with one is accepted only when fresh, unreplayed and correctly signed; every refusal answers
the same generic 401 and the reason goes to the log.
"""

import logging

from django.contrib.auth.models import AnonymousUser
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions

from apps.core import signatures

logger = logging.getLogger(__name__)


class SignedCaller(AnonymousUser):
    """The app behind a signed request: authenticated, with no staff rights.

    ``caller_key`` is stable per caller (idempotency keys are scoped by it); ``str()`` names it
    in logs and status histories.
    """

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def caller_key(self) -> str:
        raise NotImplementedError

    def acts_for_shop(self, shop_id: int) -> bool:
        """Whether the caller is the app of shop ``shop_id`` (and so may see its orders' data)."""
        return False


class SignedRequestAuthentication(authentication.BaseAuthentication):
    """Subclasses say who an app key belongs to: ``resolve`` returns ``(user, auth, secret)``."""

    caller_kind = "signed request"

    def resolve(self, app_key: str):
        raise NotImplementedError

    def authenticate(self, request):
        app_key = request.headers.get(signatures.HEADER_APP_KEY)
        if not app_key:
            return None
        resolved = self.resolve(app_key)
        try:
            if resolved is None:
                raise signatures.SignatureError(f"unknown or inactive app key {app_key!r}")
            user, auth, secret = resolved
            signatures.verify(
                app_key=app_key,
                secret=secret,
                method=request.method,
                path=signatures.request_target(request.path, request.META.get("QUERY_STRING", "")),
                timestamp=request.headers.get(signatures.HEADER_TIMESTAMP, ""),
                nonce=request.headers.get(signatures.HEADER_NONCE, ""),
                body=request.body,
                signature=request.headers.get(signatures.HEADER_SIGNATURE, ""),
            )
        except signatures.SignatureError as exc:
            logger.warning("%s refused: %s", self.caller_kind, exc)
            raise exceptions.AuthenticationFailed(_("Authentication failed.")) from exc
        return user, auth

    def authenticate_header(self, request):
        return "HMAC-SHA256"
