import importlib

from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "apps.payments"
    label = "payments"
    verbose_name = _("Payments")

    def ready(self) -> None:
        from apps.payments.checks import alipay_seller_id_check

        checks.register(alipay_seller_id_check)
        # Outbox consumers register themselves when events.py is imported.
        try:
            importlib.import_module(f"{self.name}.events")
        except ModuleNotFoundError as exc:
            if exc.name != f"{self.name}.events":
                raise
