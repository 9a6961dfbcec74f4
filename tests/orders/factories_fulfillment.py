"""Factories for audit, allocation, merge and fulfillment tests.

Orders are created straight in ``paid`` (the status field only refuses changes after
creation) with their stock reserved through inventory's own service, exactly as order
creation leaves them. Stock arrives with ``stock_receive`` so the ledger stays whole.
"""

from decimal import Decimal

import factory

from apps.inventory.domain import Destination, StockRequest
from apps.inventory.models import Sku, Stock, Warehouse
from apps.inventory.services import stock_receive, stock_reserve
from apps.orders.models import Fulfillment, Order, OrderLine, OrderStatus
from tests.inventory import factories as inventory_factories
from tests.orders import factories as order_factories


class WarehouseFactory(inventory_factories.WarehouseFactory):
    province = "浙江省"
    city = "杭州市"
    priority = factory.Sequence(lambda n: 10 + n)


class SkuFactory(inventory_factories.SkuFactory):
    price = Decimal("100.00")


def receive(sku: Sku, warehouse: Warehouse, quantity: int) -> Stock:
    return stock_receive(
        sku_id=sku.pk,
        warehouse_id=warehouse.pk,
        quantity=quantity,
        reference=f"PO-{sku.pk}-{warehouse.pk}-{quantity}",
        operator="test",
    )


def stock_of(sku: Sku, warehouse: Warehouse) -> Stock:
    return Stock.objects.get(sku=sku, warehouse=warehouse)


class OrderFactory(order_factories.OrderFactory):
    shop = None
    platform = ""
    buyer_id = "buyer-1"
    status = OrderStatus.PAID
    payable_amount = Decimal("200.00")
    paid_amount = Decimal("200.00")
    payment_method = "wechat"
    recipient_phone = "13800138000"
    address = "文三路 100 号 5 幢 301 室"


def paid_order(items: list[tuple[Sku, int]], *, reserve: bool = True, **fields) -> Order:
    """A paid order with one line per (sku, quantity), its stock reserved by sourcing."""
    order = OrderFactory(**fields)
    lines = OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=order,
                sku=sku,
                sku_code=sku.code,
                name=sku.name,
                quantity=quantity,
                unit_price=sku.price,
                line_total=sku.price * quantity,
            )
            for sku, quantity in items
        ]
    )
    if not all(line.pk for line in lines):
        lines = list(OrderLine.objects.filter(order=order).order_by("id"))
    if reserve:
        stock_reserve(
            reference=order.order_no,
            requests=[
                StockRequest(sku_id=line.sku_id, quantity=line.quantity, line_reference=str(line.pk)) for line in lines
            ],
            destination=Destination(province=order.province, city=order.city),
            operator="test",
        )
    return order


def reload(order: Order) -> Order:
    """A fresh copy (``refresh_from_db`` would assign the protected status field)."""
    return Order.objects.get(pk=order.pk)


def fulfillments_of(order: Order):
    return Fulfillment.objects.filter(lines__order_line__order=order).distinct().order_by("id")
