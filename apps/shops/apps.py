from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ShopsConfig(AppConfig):
    name = "apps.shops"
    label = "shops"
    verbose_name = _("Shops")

    def ready(self) -> None:
        # Registers the OpenAPI description of the shop signature authenticator.
        from apps.shops import schema  # noqa: F401
