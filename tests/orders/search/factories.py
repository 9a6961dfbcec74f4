"""Factories for search and report tests: shops, warehouses, SKUs, orders with lines and
fulfillments, written straight to the tables (the order services are not what these test)."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from apps.inventory.models import Sku, Warehouse
from apps.orders.models import Fulfillment, FulfillmentLine, Order, OrderLine, OrderStatus
from apps.shops.models import Platform
from tests.inventory import factories as inventory_factories
from tests.orders import factories as order_factories
from tests.shops import factories as shop_factories


class ShopFactory(shop_factories.ShopFactory):
    platform = Platform.TMALL
    secret = factory.PostGenerationMethodCall("set_app_secret", "s3cret")


class WarehouseFactory(inventory_factories.WarehouseFactory):
    province = "浙江省"
    city = ""


class SkuFactory(inventory_factories.SkuFactory):
    price = Decimal("10.00")


class OrderFactory(order_factories.OrderFactory):
    order_no = factory.Sequence(lambda n: f"2025010100000{n:07d}")
    shop = factory.SubFactory(ShopFactory)
    version = 1


def set_created_at(order: Order, when) -> Order:
    """``created_at`` is auto_now_add: tests that need a given time set it afterwards."""
    Order.objects.filter(pk=order.pk).update(created_at=when)
    order.created_at = when
    return order


def add_line(order: Order, *, sku: Sku | None = None, name: str = "", quantity: int = 1, unit_price="10.00"):
    sku = sku or SkuFactory()
    unit_price = Decimal(unit_price)
    return OrderLine.objects.create(
        order=order,
        sku=sku,
        sku_code=sku.code,
        name=name or sku.name,
        quantity=quantity,
        unit_price=unit_price,
        line_total=unit_price * quantity,
    )


def add_fulfillment(order: Order, *, warehouse: Warehouse, status="pending", shipped_at=None) -> Fulfillment:
    fulfillment = Fulfillment.objects.create(
        fulfillment_no=f"F{order.order_no}{Fulfillment.objects.count()}",
        warehouse=warehouse,
        shipped_at=shipped_at,
    )
    Fulfillment.objects.filter(pk=fulfillment.pk).update(status=status)
    for line in order.lines.all():
        FulfillmentLine.objects.create(fulfillment=fulfillment, order_line=line, sku=line.sku, quantity=line.quantity)
    return fulfillment


def paid_order(*, paid_at=None, shipped_at=None, **kwargs) -> Order:
    """An order paid in full (``paid_amount == payable_amount``), optionally shipped."""
    paid_at = paid_at or timezone.now() - timedelta(hours=1)
    order = OrderFactory(
        status=kwargs.pop("status", OrderStatus.SHIPPED if shipped_at else OrderStatus.PAID),
        paid_at=paid_at,
        shipped_at=shipped_at,
        **kwargs,
    )
    Order.objects.filter(pk=order.pk).update(paid_amount=order.payable_amount)
    order.paid_amount = order.payable_amount
    return order
