"""Orders demo data: one order in every status, each brought there by the real services, so
stock, the ledger, status logs and outbox events are what production would have.

Runs after the inventory and channels seeds (it orders whatever SKUs have stock). Idempotent:
nothing happens if the demo buyer already has orders. ``PROCESSES`` adds the simulated WMS;
point the OMS at it with ``WMS_BASE_URL=http://127.0.0.1:8002``.

The ``paid`` order is audited (and allocated) as soon as the worker delivers its
``order.paid`` event, as every paid order is: it is ``paid`` only until then.
"""

import sys
from datetime import timedelta
from decimal import Decimal

from django.db.models import F
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.inventory.models import Sku, Stock
from apps.orders.models import FS, Fulfillment, Order, OrderStatus, ShopDiscountPolicy, ShopPrice
from apps.orders.reports.services import reports_build_recent
from apps.orders.services import (
    OrderLineInput,
    RecipientInput,
    order_audit,
    order_cancel,
    order_create,
    order_delivery_update,
    order_expire,
    order_mark_paid,
    order_record_refund,
    order_request_refund,
    orders_complete_delivered,
)
from apps.orders.services.fulfillment import fulfillment_mark_shipped
from apps.shops.models import Platform, Shop

PROCESSES = [("wms-sim", [sys.executable, "-m", "apps.orders.wms_sim", "--port", "8002"])]

DEMO_BUYER = "demo-buyer"
ACTOR = "system:demo"
RECIPIENTS = [
    RecipientInput("张伟", "13800000001", "浙江省", "杭州市", "西湖区", "文三路 478 号华星时代广场 A 座 1201"),
    RecipientInput("王芳", "13800000002", "上海市", "上海市", "浦东新区", "张江路 88 号 2 号楼 302 室"),
    RecipientInput("李娜", "13800000003", "广东省", "深圳市", "南山区", "科技园南区深南大道 9988 号 15 楼"),
    RecipientInput("刘洋", "13800000004", "北京市", "北京市", "朝阳区", "望京 SOHO T3 座 2205"),
]


def _paid(order: Order) -> Order:
    return order_mark_paid(
        order_no=order.order_no, amount=order.payable_amount, paid_at=timezone.now(), method="wechat", actor=ACTOR
    )


def _allocated(order: Order) -> Order:
    return order_audit(order_no=_paid(order).order_no, actor=ACTOR)


def _shipped(order: Order) -> Order:
    order = _allocated(order)
    for number in (
        Fulfillment.objects.filter(lines__order_line__order=order, status=FS.PENDING)
        .values_list("fulfillment_no", flat=True)
        .distinct()
    ):
        fulfillment_mark_shipped(fulfillment_no=number, carrier="SF", tracking_no=f"SF{number[-12:]}", actor=ACTOR)
    return order


def _delivery(order: Order, *statuses: str) -> Order:
    order = _shipped(order)
    for status in statuses:
        order = order_delivery_update(order_no=order.order_no, status=status, actor=ACTOR)
    return order


def _expired(order: Order) -> Order:
    Order.objects.filter(pk=order.pk).update(payment_deadline=timezone.now() - timedelta(minutes=1))
    return order_expire(order_no=order.order_no, actor=ACTOR)


def _completed(order: Order) -> Order:
    order = _delivery(order, OrderStatus.DELIVERING, OrderStatus.DELIVERED)
    Order.objects.filter(pk=order.pk).update(delivered_at=timezone.now() - timedelta(days=30))
    orders_complete_delivered(actor=ACTOR)
    return order


def _refunding(order: Order) -> Order:
    order = _delivery(order, OrderStatus.DELIVERING, OrderStatus.DELIVERED)
    return order_request_refund(order_no=order.order_no, amount=order.paid_amount, actor=ACTOR, remark="demo")


def _refunded(order: Order) -> Order:
    order = _refunding(order)
    return order_record_refund(order_no=order.order_no, amount=order.paid_amount, actor=ACTOR, refund_id="demo-refund")


# status -> (buyer message, how to get there from a fresh order)
SCENARIOS = [
    (OrderStatus.PENDING_PAYMENT, "", lambda o: o),
    (OrderStatus.PAYMENT_TIMEOUT, "", _expired),
    (OrderStatus.CANCELLED, "", lambda o: order_cancel(order_no=o.order_no, actor=ACTOR, reason="buyer changed mind")),
    (OrderStatus.PAID, "", _paid),
    (OrderStatus.ON_HOLD, "请在周末送货，谢谢", _allocated),
    (OrderStatus.PENDING_SHIPMENT, "", _allocated),
    (OrderStatus.SHIPPED, "", _shipped),
    (OrderStatus.DELIVERING, "", lambda o: _delivery(o, OrderStatus.DELIVERING)),
    (OrderStatus.DELIVERY_FAILED, "", lambda o: _delivery(o, OrderStatus.DELIVERING, OrderStatus.DELIVERY_FAILED)),
    (OrderStatus.DELIVERED, "", lambda o: _delivery(o, OrderStatus.DELIVERING, OrderStatus.DELIVERED)),
    (OrderStatus.COMPLETED, "", _completed),
    (OrderStatus.REFUNDING, "", _refunding),
    (OrderStatus.REFUNDED, "", _refunded),
]


def _storefront_pricing(stdout) -> None:
    """The storefront app's own prices for a few SKUs (10% below list) and the discount it may
    grant (10% of the goods, at most 20.00), so staff find both in the admin and the signed API
    refuses a stale price or a larger discount."""
    for shop in Shop.objects.filter(platform=Platform.OWN):
        ShopDiscountPolicy.objects.get_or_create(
            shop=shop, defaults={"max_rate": Decimal("0.1000"), "max_amount": Decimal("20.00")}
        )
        for sku in Sku.objects.filter(is_active=True, stocks__on_hand__gt=0).distinct().order_by("code")[:3]:
            price = (sku.price * Decimal("0.90")).quantize(Decimal("0.01"))
            ShopPrice.objects.get_or_create(shop=shop, sku=sku, defaults={"price": price})
        stdout.write(f"orders: {shop.code} sells 3 SKUs at its own price and grants up to 10% (20.00) off\n")


def seed(stdout) -> None:
    _storefront_pricing(stdout)
    if Order.objects.filter(buyer_id__startswith=DEMO_BUYER).exists():
        stdout.write("orders: demo orders already present, skipped\n")
        return
    stocks = list(
        Stock.objects.filter(sku__is_active=True, warehouse__is_active=True, on_hand__gte=F("reserved") + 40)
        .select_related("sku")
        .order_by("sku_id", "warehouse__priority")
    )
    skus = list({stock.sku_id: stock.sku for stock in stocks}.values())[:3]
    if not skus:
        stdout.write("orders: no SKU has stock (run the inventory seed first), skipped\n")
        return
    created = 0
    for index, (status, message, advance) in enumerate(SCENARIOS):
        sku = skus[index % len(skus)]
        try:
            order = order_create(
                shop=None,
                buyer_id=f"{DEMO_BUYER}-{index:02d}",
                lines=[OrderLineInput(sku_id=sku.pk, quantity=1 + index % 2, unit_price=sku.price or Decimal("99.00"))],
                recipient=RECIPIENTS[index % len(RECIPIENTS)],
                buyer_message=message,
                actor=ACTOR,
            )
            advance(order)
        except ApplicationError as exc:
            stdout.write(f"orders: could not build a {status} order: {exc.message}\n")
            continue
        created += 1
    stdout.write(f"orders: {created} demo orders, one per status\n")
    reports = reports_build_recent(today=timezone.localdate(), actor=ACTOR)
    stdout.write(f"orders: {len(reports)} reports built for the dashboard\n")
