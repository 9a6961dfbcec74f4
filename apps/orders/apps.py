import importlib

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "apps.orders"
    label = "orders"
    verbose_name = _("Orders")

    def ready(self) -> None:
        # Registers the OpenAPI description of the WMS signature authenticator.
        from apps.orders.api import schema  # noqa: F401

        # Outbox consumers and the search readiness probe register themselves when their
        # modules are imported.
        for module in (f"{self.name}.events", f"{self.name}.search.events", f"{self.name}.search.health"):
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if not (exc.name and module.startswith(exc.name)):
                    raise
