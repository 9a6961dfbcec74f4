"""Demo data: after-sales of every type in several statuses, and work orders (one overdue).

Runs after the inventory, channels, orders and payments seeds and reuses their shop, SKUs
and stock when there are any; otherwise it creates a small shop, warehouse and SKUs of its
own. Orders are placed and paid through the orders and payments services, and everything
here goes through the after-sales services. Idempotent: a second run changes nothing.
"""

from datetime import timedelta
from decimal import Decimal

from django.db.models import F
from django.utils import timezone

from apps.aftersales.models import AfterSale
from apps.aftersales.services.aftersales import (
    AfterSaleLineInput,
    aftersale_approve,
    aftersale_create,
    aftersale_ship_replacement,
)
from apps.aftersales.services.workorders import workorder_create
from apps.core.numbers import next_number
from apps.core.outbox import outbox_relay
from apps.inventory.models import Sku, Stock, Warehouse
from apps.inventory.services import stock_receive
from apps.orders.models import Fulfillment, Order
from apps.orders.services import OrderLineInput, RecipientInput, order_create
from apps.orders.services.fulfillment import fulfillment_mark_shipped, order_delivery_update
from apps.payments.demo import sandbox_record_payment
from apps.payments.models import Payment
from apps.payments.providers.base import TradeResult, TradeState
from apps.payments.services import payment_apply_trade
from apps.shops.models import Shop

ACTOR = "demo:aftersales"


def _relay() -> None:
    for _round in range(20):
        if not outbox_relay():
            return


def _shop() -> Shop:
    shop = Shop.objects.filter(is_active=True).order_by("pk").first()
    if shop is None:
        shop, _created = Shop.objects.get_or_create(
            code="aftersales-demo", defaults={"name": "After-sales demo shop", "platform": "own", "app_key": "as-demo"}
        )
    return shop


def _skus(count: int) -> list[Sku]:
    """SKUs with at least 10 available somewhere; stock is received for new ones."""
    stocked = list(
        Sku.objects.filter(is_active=True, stocks__on_hand__gte=F("stocks__reserved") + 10)
        .distinct()
        .order_by("pk")[:count]
    )
    if len(stocked) >= count:
        return stocked
    warehouse, _created = Warehouse.objects.get_or_create(
        code="AS-DEMO", defaults={"name": "上海退货仓", "province": "上海", "city": "上海市"}
    )
    for n in range(len(stocked), count):
        sku, _created = Sku.objects.get_or_create(
            code=f"AS-DEMO-{n}", defaults={"name": f"演示商品 {n}", "price": Decimal("59.00")}
        )
        if not Stock.objects.filter(sku=sku, on_hand__gte=F("reserved") + 10).exists():
            stock_receive(
                sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=50, reference=f"AS-DEMO-{n}", operator=ACTOR
            )
        stocked.append(sku)
    return stocked


def _order(shop: Shop, skus: list[Sku], n: int, *, delivered: bool) -> Order:
    order = order_create(
        shop=shop,
        buyer_id=f"demo-aftersales-{n}-{next_number()}",
        lines=[OrderLineInput(sku_id=sku.pk, quantity=2, unit_price=Decimal("59.00")) for sku in skus],
        recipient=RecipientInput(
            name="王小明",
            phone=f"1370000{n:04d}",
            province="上海",
            city="上海市",
            district="徐汇区",
            address=f"漕溪北路 {n} 号",
        ),
        shipping_fee=Decimal("0.00"),
        actor=ACTOR,
    )
    payment = Payment.objects.create(
        order_no=order.order_no,
        provider="wechat",
        out_trade_no=next_number(),
        amount=order.payable_amount,
        created_by=ACTOR,
    )
    payment_apply_trade(
        trade=TradeResult(
            out_trade_no=payment.out_trade_no,
            state=TradeState.PAID,
            amount=order.payable_amount,
            transaction_id=f"DEMO{payment.out_trade_no}",
            paid_at=timezone.now(),
        ),
        actor=ACTOR,
    )
    sandbox_record_payment(Payment.objects.get(pk=payment.pk))
    _relay()
    if delivered:
        for fulfillment in Fulfillment.objects.filter(lines__order_line__order=order).distinct():
            fulfillment_mark_shipped(
                fulfillment_no=fulfillment.fulfillment_no, carrier="SF", tracking_no=f"SF{next_number()}", actor=ACTOR
            )
        _relay()
        order_delivery_update(order_no=order.order_no, status="delivered", actor=ACTOR)
        _relay()
    return Order.objects.get(pk=order.pk)


def _open(order: Order, type_: str, quantity: int, amount: str, reason: str) -> AfterSale:
    lines = [] if type_ == "refund_only" else [AfterSaleLineInput(order.lines.order_by("pk").first().pk, quantity)]
    return aftersale_create(
        order_no=order.order_no,
        type=type_,
        lines=lines,
        amount=Decimal(amount),
        reason=reason,
        source="buyer",
        actor=ACTOR,
    )


def seed(stdout) -> None:
    if AfterSale.objects.filter(created_by=ACTOR).exists():
        stdout.write("aftersales: demo data already present")
        return
    shop = _shop()
    skus = _skus(2)

    unshipped = _order(shop, skus[:1], 1, delivered=False)
    refund_only = _open(unshipped, "refund_only", 0, str(unshipped.paid_amount), "拍错了，不想要了")

    delivered = [_order(shop, skus, n, delivered=True) for n in range(2, 7)]
    return_requested = _open(delivered[0], "return_refund", 1, "59.00", "尺码不合适")
    return_approved = _open(delivered[1], "return_refund", 2, "118.00", "质量问题：开线")
    aftersale_approve(aftersale_no=return_approved.aftersale_no, actor="admin:demo", remark="同意退货")
    exchange = _open(delivered[2], "exchange", 1, "0", "换大一码")
    reissue = _open(delivered[3], "reissue", 1, "0", "少发一件")
    aftersale_approve(aftersale_no=reissue.aftersale_no, actor="admin:demo")
    aftersale_ship_replacement(aftersale_no=reissue.aftersale_no, actor="admin:demo")
    partial = _open(delivered[4], "refund_only", 0, "20.00", "价保：降价补差")
    _relay()

    workorder_create(
        title="物流停滞三天，买家催件",
        category="logistics",
        priority="high",
        order_no=delivered[0].order_no,
        actor=ACTOR,
    )
    workorder_create(
        title="买家投诉商品开线",
        category="quality",
        priority="normal",
        aftersale_no=return_approved.aftersale_no,
        actor=ACTOR,
        opened_at=timezone.now() - timedelta(hours=30),
    )
    workorder_create(title="发票补开", category="other", priority="low", order_no=delivered[4].order_no, actor=ACTOR)
    stdout.write(
        "aftersales: demo after-sales "
        + ", ".join(
            a.aftersale_no for a in (refund_only, return_requested, return_approved, exchange, reissue, partial)
        )
        + " and 3 work orders (one overdue)"
    )
