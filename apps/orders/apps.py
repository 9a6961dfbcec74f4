import importlib

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "apps.orders"
    label = "orders"
    verbose_name = _("Orders")

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from apps.orders.models import Order
        from apps.orders.services.common import shop_warehouses_forget

        shop = Order.shop.field.related_model
        post_save.connect(shop_warehouses_forget, sender=shop, dispatch_uid="orders.shop_warehouses.save")
        post_delete.connect(shop_warehouses_forget, sender=shop, dispatch_uid="orders.shop_warehouses.delete")
        m2m_changed.connect(
            shop_warehouses_forget, sender=shop.warehouses.through, dispatch_uid="orders.shop_warehouses.m2m"
        )
        # Outbox consumers register themselves when their modules are imported.
        for module in (f"{self.name}.events", f"{self.name}.search.events"):
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if not (exc.name and module.startswith(exc.name)):
                    raise
