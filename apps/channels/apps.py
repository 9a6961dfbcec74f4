import importlib

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsConfig(AppConfig):
    name = "apps.channels"
    label = "channels"
    verbose_name = _("Sales channels")

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from apps.channels.authentication import shops_changed
        from apps.channels.models import Shop

        post_save.connect(shops_changed, sender=Shop, dispatch_uid="shops-changed-save")
        post_delete.connect(shops_changed, sender=Shop, dispatch_uid="shops-changed-delete")
        m2m_changed.connect(shops_changed, sender=Shop.warehouses.through, dispatch_uid="shops-changed-warehouses")
        # Outbox consumers register themselves when events.py is imported.
        try:
            importlib.import_module(f"{self.name}.events")
        except ModuleNotFoundError as exc:
            if exc.name != f"{self.name}.events":
                raise
