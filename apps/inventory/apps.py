import importlib

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InventoryConfig(AppConfig):
    name = "apps.inventory"
    label = "inventory"
    verbose_name = _("Inventory")

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from apps.inventory.models import ShopWarehouse, Warehouse
        from apps.inventory.selectors import shop_warehouses_forget
        from apps.shops.models import Shop

        # A shop's warehouse list is cached per process (selectors.shops_warehouse_ids).
        for sender in (Shop, ShopWarehouse):
            post_save.connect(
                shop_warehouses_forget, sender=sender, dispatch_uid=f"inventory.shop_wh.save.{sender.__name__}"
            )
            post_delete.connect(
                shop_warehouses_forget, sender=sender, dispatch_uid=f"inventory.shop_wh.del.{sender.__name__}"
            )
        m2m_changed.connect(
            shop_warehouses_forget, sender=Warehouse.shops.through, dispatch_uid="inventory.shop_wh.m2m"
        )
        # Outbox consumers register themselves when events.py is imported.
        try:
            importlib.import_module(f"{self.name}.events")
        except ModuleNotFoundError as exc:
            if exc.name != f"{self.name}.events":
                raise
