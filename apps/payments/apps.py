import importlib

from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "apps.payments"
    label = "payments"
    verbose_name = _("Payments")

    def ready(self) -> None:
        from apps.core.health import probe_register
        from apps.payments.checks import alipay_seller_id_check, payment_providers_check
        from apps.payments.health import check_payment_providers

        checks.register(alipay_seller_id_check)
        checks.register(payment_providers_check, checks.Tags.security, deploy=True)
        probe_register("payment_providers", check_payment_providers, required=False)
        # Outbox consumers register themselves when events.py is imported.
        try:
            importlib.import_module(f"{self.name}.events")
        except ModuleNotFoundError as exc:
            if exc.name != f"{self.name}.events":
                raise
