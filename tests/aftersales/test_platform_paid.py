"""After-sales of orders that arrived paid from a platform: the platform holds the money and
refunds the buyer itself, so nothing goes through our payments; the refund is recorded on
the order (reference ``AS:<no>``) and the after-sale completes."""

import itertools
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.aftersales.models import AfterSale
from apps.aftersales.models import AfterSaleStatus as A
from apps.aftersales.services.aftersales import (
    AfterSaleLineInput,
    aftersale_approve,
    aftersale_create,
    aftersale_receive,
    aftersale_refund,
)
from apps.core.exceptions import Unprocessable
from apps.core.models import Alert
from apps.core.numbers import next_number
from apps.core.outbox import outbox_publish
from apps.orders.models import Order, OrderMoneyEvent
from apps.orders.services import OrderLineInput, PaidInput, RecipientInput, order_create
from apps.payments.models import Refund
from tests.aftersales.factories import deliver, drain, reload, stock_of

pytestmark = pytest.mark.django_db

_buyers = itertools.count(1)


def place_platform_order(shop, items) -> Order:
    """An order the platform sends already paid (no payment of ours), audited and allocated."""
    n = next(_buyers)
    total = sum((Decimal(price) * qty for _sku, qty, price in items), Decimal("0.00"))
    order = order_create(
        shop=shop,
        buyer_id=f"tm-buyer-{n}-{next_number()}",
        lines=[OrderLineInput(sku_id=sku.pk, quantity=qty, unit_price=Decimal(price)) for sku, qty, price in items],
        recipient=RecipientInput(
            name="王五",
            phone=f"137{n:08d}",
            province="上海",
            city="上海市",
            district="徐汇区",
            address=f"漕溪路 {n} 号",
        ),
        shipping_fee=Decimal("0.00"),
        platform_order_id=f"TM{next_number()}",
        paid=PaidInput(amount=total, paid_at=timezone.now(), method="tmall"),
        actor="platform:tmall",
    )
    drain()
    return reload(order)


def _open(order, type_, lines, amount, source="staff"):
    aftersale = aftersale_create(
        order_no=order.order_no,
        type=type_,
        lines=lines,
        amount=Decimal(amount),
        reason="Buyer complaint",
        source=source,
        actor="admin:amy",
    )
    drain()
    aftersale.refresh_from_db()
    return aftersale


def _remarks(aftersale) -> list[str]:
    return list(aftersale.logs.order_by("id").values_list("remark", flat=True))


def test_a_partial_refund_before_shipment_is_recorded_on_the_order_and_completes(shop, shirt, warehouse):
    order = place_platform_order(shop, [(shirt, 2, "50.00")])
    assert (order.status, order.paid_amount) == ("pending_shipment", Decimal("100.00"))

    aftersale = _open(order, "refund_only", [], "30.00")
    assert aftersale.status == A.REQUESTED  # part of the money: staff decide
    aftersale_approve(aftersale_no=aftersale.aftersale_no, actor="admin:amy")
    aftersale = aftersale_refund(aftersale_no=aftersale.aftersale_no, actor="admin:amy")
    drain()

    aftersale.refresh_from_db()
    order = reload(order)
    assert (aftersale.status, aftersale.refunded_amount) == (A.COMPLETED, Decimal("30.00"))
    assert aftersale.refund_reference == f"AS:{aftersale.aftersale_no}"
    assert (order.status, order.refunded_amount) == ("pending_shipment", Decimal("30.00"))
    assert OrderMoneyEvent.objects.filter(reference=f"AS:{aftersale.aftersale_no}", amount=Decimal("30.00")).exists()
    assert not Refund.objects.filter(order_no=order.order_no).exists()
    # Staff opened it: the log says the buyer must be refunded on the platform.
    assert "on the platform" in _remarks(aftersale)[-1]
    assert stock_of(shirt, warehouse).reserved == 2
    # What is left is still refundable, and no more.
    with pytest.raises(Unprocessable) as raised:
        _open(order, "refund_only", [], "70.01")
    assert raised.value.extra["refundable"] == "70.00"


def test_a_full_refund_before_shipment_cancels_the_order_and_completes(shop, shirt, warehouse):
    order = place_platform_order(shop, [(shirt, 2, "50.00")])

    aftersale = _open(order, "refund_only", [], "100.00")

    order = reload(order)
    assert (aftersale.status, aftersale.refunded_amount) == (A.COMPLETED, Decimal("100.00"))
    assert (order.status, order.refunded_amount) == ("cancelled", Decimal("100.00"))
    assert stock_of(shirt, warehouse).reserved == 0
    assert not Refund.objects.filter(order_no=order.order_no).exists()
    # Staff opened it: the buyer gets the money only once someone refunds on the platform.
    alert = Alert.objects.get(kind="platform_refund_to_make")
    assert (alert.details["aftersale_no"], alert.details["amount"]) == (aftersale.aftersale_no, "100.00")


def test_a_return_after_delivery_puts_the_goods_back_and_refunds_the_order(shop, shirt, warehouse):
    order = deliver(place_platform_order(shop, [(shirt, 2, "50.00")]))
    assert order.status == "delivered"
    assert stock_of(shirt, warehouse).on_hand == 18
    line = order.lines.get()

    aftersale = _open(order, "return_refund", [AfterSaleLineInput(order_line_id=line.pk, quantity=2)], "100.00")
    aftersale_approve(aftersale_no=aftersale.aftersale_no, actor="admin:amy")
    aftersale_receive(
        aftersale_no=aftersale.aftersale_no,
        actor="warehouse:bob",
        inspections={aftersale.lines.get().pk: "sellable"},
    )
    aftersale_refund(aftersale_no=aftersale.aftersale_no, actor="admin:amy")
    drain()

    aftersale.refresh_from_db()
    order = reload(order)
    assert (aftersale.status, aftersale.refunded_amount) == (A.COMPLETED, Decimal("100.00"))
    assert (order.status, order.refunded_amount) == ("refunded", Decimal("100.00"))
    assert stock_of(shirt, warehouse).on_hand == 20
    assert not Refund.objects.filter(order_no=order.order_no).exists()


def test_a_platform_aftersale_event_is_recorded_and_completed_once(shop, shirt, jeans, warehouse):
    order = deliver(place_platform_order(shop, [(shirt, 1, "50.00"), (jeans, 1, "80.00")]))
    payload = {
        "shop_id": shop.pk,
        "order_no": order.order_no,
        "platform_refund_id": "TMR-1001",
        "type": "refund_only",
        "amount": "80.00",
        "reason": "Jeans never arrived",
        "lines": [{"sku_id": jeans.pk, "quantity": 1}],
    }
    for _delivery in range(2):  # the event is delivered twice: one after-sale, one refund
        outbox_publish(
            topic="channel.aftersale_requested", aggregate_type="order", aggregate_id=order.order_no, payload=payload
        )
        drain()

    aftersale = AfterSale.objects.get(order=order)
    order = reload(order)
    assert (aftersale.source, aftersale.platform_refund_id) == ("platform", "TMR-1001")
    assert (aftersale.status, aftersale.refunded_amount) == (A.COMPLETED, Decimal("80.00"))
    assert (order.status, order.refunded_amount) == ("delivered", Decimal("80.00"))
    assert "refunded by the platform" in _remarks(aftersale)[-1]
    assert not Refund.objects.filter(order_no=order.order_no).exists()


def test_the_admin_refund_action_says_to_refund_on_the_platform(admin_client, shop, shirt):
    order = place_platform_order(shop, [(shirt, 2, "50.00")])
    aftersale = _open(order, "refund_only", [], "20.00")
    aftersale_approve(aftersale_no=aftersale.aftersale_no, actor="admin:amy")

    response = admin_client.post(
        reverse("admin:aftersales_aftersale_changelist"),
        {"action": "refund", "_selected_action": [aftersale.pk]},
        follow=True,
    )

    messages = [str(m) for m in response.context["messages"]]
    assert any("on the platform" in m and order.order_no in m for m in messages)
    aftersale.refresh_from_db()
    assert aftersale.status == A.COMPLETED
    assert reload(order).refunded_amount == Decimal("20.00")
