"""The payments part of ``/readyz``: each provider ``ok``, ``misconfigured`` or ``not_configured``."""

from apps.core.health import Degraded
from apps.payments.providers.config import provider_names, provider_status


def check_payment_providers() -> dict:
    statuses = {name: provider_status(name) for name in provider_names()}
    if "misconfigured" in statuses.values():
        raise Degraded(statuses)
    return statuses
