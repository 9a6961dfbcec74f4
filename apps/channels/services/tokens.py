"""Platform access tokens: storing a shop's token, and warning staff before one expires.

A platform only answers our app for a shop whose seller authorized it; the authorization is
the shop's access token (TOP ``session``, JD / Douyin / WeChat ``access_token``) and it
expires. Once expired, every pull, stock push and shipment write-back of the shop fails
permanently, so a daily job raises an alert while there is still time to renew it.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.channels.adapters import ADAPTERS
from apps.core.alerts import alert_raise, alert_resolve
from apps.core.models import Alert
from apps.shops.models import Shop

logger = logging.getLogger(__name__)

TOKEN_EXPIRY_WARNING = timedelta(days=3)


def _alert_key(shop_id: int) -> str:
    return f"channel-token:{shop_id}"


def shop_set_access_token(*, shop: Shop, token: str, expires_at: datetime | None, actor: str) -> Shop:
    """Store the seller's access token (encrypted) and when it expires; an empty token
    removes it. A new token closes the shop's expiry alert."""
    with transaction.atomic():
        shop.set_access_token(token, expires_at=expires_at)
        shop.save(update_fields=["access_token_encrypted", "access_token_expires_at"])
        alert_resolve(dedup_key=_alert_key(shop.pk))
    logger.info("%s %s the access token of shop %s", actor, "stored" if token else "removed", shop.code)
    return shop


def access_tokens_check_expiry(*, actor: str, now: datetime | None = None) -> list[int]:
    """Alert for every active platform shop whose access token expires within
    ``TOKEN_EXPIRY_WARNING`` (or has expired); close the alert of shops whose token is fine
    again. Returns the ids of the shops alerted."""
    now = now or timezone.now()
    horizon = now + TOKEN_EXPIRY_WARNING
    shops = (
        Shop.objects.filter(is_active=True, platform__in=list(ADAPTERS))
        .exclude(access_token_encrypted="")
        .only("pk", "code", "access_token_expires_at")
        .order_by("pk")
    )
    alerted = []
    for shop in shops:
        expires_at = shop.access_token_expires_at
        if expires_at is None or expires_at > horizon:
            alert_resolve(dedup_key=_alert_key(shop.pk))
            continue
        expired = expires_at <= now
        values = {"shop": shop.code, "at": timezone.localtime(expires_at).strftime("%Y-%m-%d %H:%M")}
        if expired:
            message = _(
                "The access token of shop %(shop)s expired at %(at)s: its platform calls fail until the seller "
                "authorizes the app again and the new token is stored."
            )
        else:
            message = _(
                "The access token of shop %(shop)s expires at %(at)s: have the seller renew the authorization "
                "and store the new token before then."
            )
        alert_raise(
            kind="channel_token_expiry",
            dedup_key=_alert_key(shop.pk),
            message=message % values,
            details={"shop_id": shop.pk, "expires_at": expires_at.isoformat()},
            severity=Alert.Severity.ERROR if expired else Alert.Severity.WARNING,
        )
        alerted.append(shop.pk)
    if alerted:
        logger.warning("%s: access tokens of shops %s expire within %s", actor, alerted, TOKEN_EXPIRY_WARNING)
    return alerted
