"""System checks of the payments app (``manage.py check``, and before ``migrate``/``runserver``;
``payments.E002`` with ``--deploy`` only)."""

from django.conf import settings
from django.core.checks import Error

from apps.payments.providers.config import provider_configured, provider_names, provider_problems


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


def payment_providers_check(app_configs, **kwargs) -> list[Error]:
    """``check --deploy``: every configured provider has its keys and settings right (a provider
    with none of its settings is not used and not checked)."""
    return [
        Error(
            f"Payment provider {provider} is misconfigured: {problem}.",
            hint=f"Fix {problem.setting}: until then payments with {provider} answer 503 and its "
            "refunds, queries and closes wait.",
            obj=problem.setting,
            id="payments.E002",
        )
        for provider in provider_names()
        if provider_configured(provider)
        for problem in provider_problems(provider)
    ]
