from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ShopsConfig(AppConfig):
    name = "apps.shops"
    label = "shops"
    verbose_name = _("Shops")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        # Registers the OpenAPI description of the shop signature authenticator.
        from apps.shops import schema  # noqa: F401
        from apps.shops.authentication import shops_changed
        from apps.shops.models import Shop

        # Each process caches the shops it authenticated; a change makes every process read again.
        post_save.connect(shops_changed, sender=Shop, dispatch_uid="shops-changed-save")
        post_delete.connect(shops_changed, sender=Shop, dispatch_uid="shops-changed-delete")
