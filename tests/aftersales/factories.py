"""Factories and journeys for after-sales tests.

Orders go through the real services: ``order_create``, a payment applied through payments'
``payment_apply_trade`` (the provider's "paid" answer, as its callback delivers it), the
outbox relay (orders audits and allocates), ``fulfillment_mark_shipped`` and
``order_delivery_update``. Refunds are settled with ``refund_apply_result`` (the provider's
refund answer) and the relay, so ``refund.succeeded`` reaches orders and after-sales as in
production.
"""

import itertools
from decimal import Decimal

from django.utils import timezone

from apps.core.numbers import next_number
from apps.core.outbox import outbox_relay
from apps.inventory.models import Sku, Stock, Warehouse
from apps.inventory.services import stock_receive
from apps.orders.models import Fulfillment, Order
from apps.orders.services import OrderLineInput, RecipientInput, order_create
from apps.orders.services.fulfillment import fulfillment_mark_shipped, order_delivery_update
from apps.payments.models import Payment, Refund, RefundStatus
from apps.payments.providers.base import RefundResult, RefundState, TradeResult, TradeState
from apps.payments.services import payment_apply_trade, refund_apply_result
from apps.shops.models import Shop
from tests.inventory import factories as inventory_factories
from tests.shops.factories import SHOP_SECRET as SHOP_SECRET
from tests.shops.factories import ShopFactory as ShopFactory

_buyers = itertools.count(1)


class WarehouseFactory(inventory_factories.WarehouseFactory):
    province = "上海"
    city = "上海市"
    priority = 10


class SkuFactory(inventory_factories.SkuFactory):
    price = Decimal("50.00")


def drain() -> None:
    """Run the outbox relay until nothing due is left (consumers publish follow-up events)."""
    for _round in range(20):
        if not outbox_relay():
            return


def reload(order: Order) -> Order:
    """Orders' protected FSM status forbids refresh_from_db: read the row again."""
    return Order.objects.get(pk=order.pk)


def receive(sku: Sku, warehouse: Warehouse, quantity: int) -> Stock:
    return stock_receive(
        sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=quantity, reference=f"PO-{next_number()}", operator="test"
    )


def stock_of(sku: Sku, warehouse: Warehouse) -> Stock:
    return Stock.objects.get(sku=sku, warehouse=warehouse)


def place_order(
    shop: Shop, items: list[tuple[Sku, int, str]], *, buyer_message: str = "", same_buyer_as: Order | None = None
) -> Order:
    """An unpaid order, one line per (sku, quantity, unit price), no shipping fee.

    ``same_buyer_as`` places it for that order's buyer and address (so their parcels may merge).
    """
    if same_buyer_as is None:
        n = next(_buyers)
        buyer_id = f"as-buyer-{n}-{next_number()}"
        recipient = RecipientInput(
            name="李四",
            phone=f"139{n:08d}",
            province="上海",
            city="上海市",
            district="浦东新区",
            address=f"世纪大道 {n} 号",
        )
    else:
        buyer_id = same_buyer_as.buyer_id
        recipient = RecipientInput(
            name=same_buyer_as.recipient_name,
            phone=same_buyer_as.recipient_phone,
            province=same_buyer_as.province,
            city=same_buyer_as.city,
            district=same_buyer_as.district,
            address=same_buyer_as.address,
        )
    return order_create(
        shop=shop,
        buyer_id=buyer_id,
        lines=[OrderLineInput(sku_id=sku.pk, quantity=qty, unit_price=Decimal(price)) for sku, qty, price in items],
        recipient=recipient,
        shipping_fee=Decimal("0.00"),
        buyer_message=buyer_message,
        actor="test",
    )


def pay(order: Order) -> Order:
    """The provider reports the order's payment paid; orders marks it paid, audits, allocates."""
    payment = Payment.objects.create(
        order_no=order.order_no,
        provider="wechat",
        out_trade_no=next_number(),
        amount=order.payable_amount,
        created_by="test",
    )
    payment_apply_trade(
        trade=TradeResult(
            out_trade_no=payment.out_trade_no,
            state=TradeState.PAID,
            amount=order.payable_amount,
            transaction_id=f"T{payment.out_trade_no}",
            paid_at=timezone.now(),
        ),
        actor="provider:test",
    )
    drain()
    order = reload(order)
    return order


def ship_fulfillment(fulfillment: Fulfillment) -> Fulfillment:
    shipped = fulfillment_mark_shipped(
        fulfillment_no=fulfillment.fulfillment_no, carrier="SF", tracking_no=f"SF{next_number()}", actor="test"
    )
    drain()
    return shipped


def deliver(order: Order) -> Order:
    """Ship every fulfillment of a paid order and report it delivered."""
    for fulfillment in Fulfillment.objects.filter(lines__order_line__order=order, kind="normal").distinct():
        ship_fulfillment(fulfillment)
    order_delivery_update(order_no=order.order_no, status="delivered", actor="carrier:test")
    drain()
    order = reload(order)
    return order


def settle_refunds(order_no: str, *, succeeded: bool = True) -> list[Refund]:
    """The provider answers every open refund of the order."""
    refunds = list(
        Refund.objects.filter(order_no=order_no, status__in=[RefundStatus.REQUESTED, RefundStatus.PROCESSING])
    )
    for refund in refunds:
        refund_apply_result(
            result=RefundResult(
                reference=refund.out_refund_no,
                state=RefundState.SUCCEEDED if succeeded else RefundState.FAILED,
                refund_id=f"RF{refund.pk}",
                amount=refund.amount,
            ),
            actor="provider:test",
        )
    drain()
    return refunds
