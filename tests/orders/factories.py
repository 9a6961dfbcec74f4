"""Factories for order creation, lifecycle and API tests.

Stock arrives through inventory's ``stock_receive`` and orders are made by
``order_create`` itself, so the ledger, reservations and outbox are exactly what
production leaves behind.
"""

from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from apps.core.numbers import next_number
from apps.inventory.models import Sku, Stock, Warehouse
from apps.inventory.services import stock_receive
from apps.orders.models import Order, OrderStatus
from apps.orders.services import OrderLineInput, PaidInput, RecipientInput, order_create, order_mark_paid
from apps.shops.models import Platform
from tests.inventory import factories as inventory_factories
from tests.shops import factories as shop_factories
from tests.shops.factories import SHOP_SECRET as SHOP_SECRET


class WarehouseFactory(inventory_factories.WarehouseFactory):
    province = "上海市"
    city = "上海市"
    priority = factory.Sequence(lambda n: 10 + n)


class SkuFactory(inventory_factories.SkuFactory):
    price = Decimal("50.00")


class ShopFactory(shop_factories.ShopFactory):
    """A shop whose app signs with ``SHOP_SECRET``."""

    platform = Platform.TMALL


class OrderFactory(DjangoModelFactory):
    """An order row only (no lines, stock, status log or event), for tests of what reads or
    pays orders; the tests of the order services create orders with ``order_create``."""

    class Meta:
        model = Order

    order_no = factory.LazyFunction(next_number)
    shop = factory.SubFactory(shop_factories.ShopFactory)
    platform = factory.LazyAttribute(lambda o: o.shop.platform if o.shop else "own")
    buyer_id = factory.Sequence(lambda n: f"buyer-{n}")
    status = OrderStatus.PENDING_PAYMENT
    payable_amount = Decimal("100.00")
    total_amount = factory.LazyAttribute(lambda o: o.payable_amount)
    recipient_name = "张三"
    recipient_phone = factory.Sequence(lambda n: f"138{n:08d}")
    province = "浙江省"
    city = "杭州市"
    district = "西湖区"
    address = "文三路 100 号"


def receive(sku: Sku, warehouse: Warehouse, quantity: int) -> Stock:
    return stock_receive(
        sku_id=sku.pk,
        warehouse_id=warehouse.pk,
        quantity=quantity,
        reference=f"PO-{sku.pk}-{quantity}",
        operator="test",
    )


def stock_of(sku: Sku, warehouse: Warehouse) -> Stock:
    return Stock.objects.get(sku=sku, warehouse=warehouse)


def recipient(**overrides) -> RecipientInput:
    fields = {
        "name": "王小明",
        "phone": "13800138000",
        "province": "上海市",
        "city": "上海市",
        "district": "浦东新区",
        "address": "世纪大道100号",
        **overrides,
    }
    return RecipientInput(**fields)


def line(sku: Sku, quantity: int = 1, unit_price: str = "50.00", discount: str = "0") -> OrderLineInput:
    return OrderLineInput(
        sku_id=sku.pk, quantity=quantity, unit_price=Decimal(unit_price), discount_amount=Decimal(discount)
    )


def create_order(*skus_and_quantities, shop=None, paid: PaidInput | None = None, **kwargs) -> Order:
    """An order for ``(sku, quantity)`` pairs at 50.00 each, through ``order_create``."""
    return order_create(
        shop=shop,
        buyer_id=kwargs.pop("buyer_id", "buyer-1"),
        lines=[line(sku, quantity) for sku, quantity in skus_and_quantities],
        recipient=kwargs.pop("recipient", recipient()),
        paid=paid,
        actor=kwargs.pop("actor", "test"),
        **kwargs,
    )


def pay(order: Order) -> Order:
    return order_mark_paid(
        order_no=order.order_no, amount=order.payable_amount, paid_at=order.created_at, method="alipay", actor="test"
    )


def provider_pays(order_no: str, amount: Decimal, *, out_trade_no: str | None = None):
    """The payment provider reports ``amount`` paid for ``order_no``: the real payments path
    (``payment_apply_trade``) records it and publishes ``payment.succeeded``."""
    from apps.core.numbers import next_number
    from apps.payments.models import Payment
    from apps.payments.providers.base import TradeResult, TradeState
    from apps.payments.services import payment_apply_trade

    payment = Payment.objects.create(
        order_no=order_no, provider="alipay", out_trade_no=out_trade_no or next_number(), amount=amount
    )
    payment, _outcome = payment_apply_trade(
        trade=TradeResult(
            out_trade_no=payment.out_trade_no, state=TradeState.PAID, amount=amount, transaction_id=f"T{payment.pk}"
        ),
        actor="test",
    )
    return payment


def ship_ready(order: Order, *, fulfillment_status: str = "pending"):
    """Move a paid order to ``pending_shipment`` with one package holding all its lines, as
    allocation would (the package's status set as the WMS has it)."""
    from django.db import transaction

    from apps.core.numbers import next_number
    from apps.orders.models import Fulfillment, FulfillmentLine
    from apps.orders.services.common import order_apply_transition, order_lock

    with transaction.atomic():
        locked = order_lock(order_no=order.order_no)
        lines = list(locked.lines.all())
        warehouse_id = locked.lines.first().sku.stocks.first().warehouse_id
        fulfillment = Fulfillment.objects.create(
            fulfillment_no=next_number(), warehouse_id=warehouse_id, status=fulfillment_status
        )
        FulfillmentLine.objects.bulk_create(
            [
                FulfillmentLine(fulfillment=fulfillment, order_line=item, sku_id=item.sku_id, quantity=item.quantity)
                for item in lines
            ]
        )
        order_apply_transition(order=locked, transition="allocate", actor="test")
    return fulfillment


# A complete recipient as an API body states it.
RECIPIENT_BODY = {
    "name": "李雷",
    "phone": "13912345678",
    "province": "上海市",
    "city": "上海市",
    "district": "徐汇区",
    "address": "漕溪北路88号",
}
