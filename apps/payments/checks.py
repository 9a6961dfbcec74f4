"""System checks of the payments app (``manage.py check``, and before ``migrate``/``runserver``)."""

from django.conf import settings
from django.core.checks import Error


def alipay_seller_id_check(app_configs, **kwargs) -> list[Error]:
    """Alipay configured without ``ALIPAY_SELLER_ID`` outside DEBUG: callbacks would be
    accepted for any seller (the check is skipped when the seller id is empty)."""
    if settings.ALIPAY_APP_ID and not settings.ALIPAY_SELLER_ID and not settings.DEBUG:
        return [
            Error(
                "ALIPAY_SELLER_ID is empty while Alipay is configured (ALIPAY_APP_ID is set).",
                hint="Set ALIPAY_SELLER_ID to the merchant's seller id (2088...): without it Alipay "
                "notifications are not checked against our seller.",
                id="payments.E001",
            )
        ]
    return []
