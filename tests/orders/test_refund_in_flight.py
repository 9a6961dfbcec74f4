"""A refund that, with the refunds still in flight, gives back everything paid stops the
order from shipping, as a single full refund does."""

from decimal import Decimal

import pytest

from apps.aftersales.models import AfterSaleStatus as A
from apps.aftersales.services.aftersales import aftersale_approve, aftersale_create, aftersale_refund
from apps.core.exceptions import Conflict
from apps.core.outbox import outbox_relay
from apps.orders.models import Order, OrderStatus
from apps.orders.services import order_hold, order_request_refund
from apps.payments.services import refund_request_for_order
from tests.aftersales.factories import pay, place_order, settle_refunds
from tests.orders.factories import create_order, provider_pays, stock_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _refunds_stay_in_flight(settings):
    """Refund submissions meet the closed discard port: they stay requested until settled."""
    settings.WECHATPAY_GATEWAY_URL = "http://127.0.0.1:9"
    settings.ALIPAY_GATEWAY_URL = "http://127.0.0.1:9/alipay/gateway.do"
    settings.WMS_BASE_URL = ""


def _reload(order: Order) -> Order:
    return Order.objects.get(pk=order.pk)


def _paid(sku, hold: bool) -> Order:
    order = create_order((sku, 2))
    provider_pays(order.order_no, order.payable_amount)
    outbox_relay()
    order = _reload(order)
    assert order.status == OrderStatus.PAID
    if hold:
        order_hold(order_no=order.order_no, actor="cs:amy", reason="call the buyer")
    return _reload(order)


@pytest.mark.parametrize("hold", [False, True], ids=["paid", "on_hold"])
def test_the_rest_refunded_while_a_refund_is_in_flight_moves_the_order_to_refunding(sku, warehouse, hold):
    order = _paid(sku, hold)
    paid = order.paid_amount
    refund_request_for_order(
        order_no=order.order_no, amount=Decimal("10.00"), reason="goodwill", reference="cs:1", actor="cs"
    )

    order = order_request_refund(order_no=order.order_no, amount=paid - Decimal("10.00"), actor="cs:amy")
    refund_request_for_order(
        order_no=order.order_no, amount=paid - Decimal("10.00"), reason="rest", reference="cs:2", actor="cs"
    )

    assert _reload(order).status == OrderStatus.REFUNDING
    assert (stock_of(sku, warehouse).on_hand, stock_of(sku, warehouse).reserved) == (10, 0)
    settle_refunds(order.order_no)
    order = _reload(order)
    assert (order.status, order.refunded_amount) == (OrderStatus.REFUNDED, paid)
    assert stock_of(sku, warehouse).on_hand == 10


def test_more_than_is_left_after_the_refunds_in_flight_is_refused(sku, warehouse):
    order = _paid(sku, hold=True)
    refund_request_for_order(
        order_no=order.order_no, amount=Decimal("10.00"), reason="goodwill", reference="cs:1", actor="cs"
    )

    with pytest.raises(Conflict) as refused:
        order_request_refund(order_no=order.order_no, amount=order.paid_amount, actor="cs:amy")

    assert refused.value.code == "refund_exceeds_paid"
    assert refused.value.extra["refundable"] == f"{order.paid_amount - Decimal('10.00'):.2f}"
    assert _reload(order).status == OrderStatus.ON_HOLD
    assert stock_of(sku, warehouse).reserved == 2


def test_an_after_sale_for_the_rest_of_a_held_order_stops_it_shipping(shop, sku, warehouse):
    order = pay(place_order(shop, [(sku, 2, "50.00")], buyer_message="please gift wrap"))
    assert order.status == OrderStatus.ON_HOLD
    first = aftersale_create(
        order_no=order.order_no,
        type="refund_only",
        lines=[],
        amount=Decimal("10.00"),
        reason="late",
        source="staff",
        actor="cs:amy",
    )
    aftersale_approve(aftersale_no=first.aftersale_no, actor="cs:amy")
    first.refresh_from_db()
    if first.status == A.APPROVED:
        aftersale_refund(aftersale_no=first.aftersale_no, actor="cs:amy")
    first.refresh_from_db()
    assert first.status == A.REFUNDING

    rest = aftersale_create(
        order_no=order.order_no,
        type="refund_only",
        lines=[],
        amount=Decimal("90.00"),
        reason="no longer wanted",
        source="buyer",
        actor="shop:test",
    )
    outbox_relay()
    rest.refresh_from_db()

    assert rest.status == A.REFUNDING
    assert _reload(order).status == OrderStatus.REFUNDING
    assert stock_of(sku, warehouse).reserved == 0
    settle_refunds(order.order_no)
    order = _reload(order)
    assert (order.status, order.refunded_amount) == (OrderStatus.REFUNDED, Decimal("100.00"))
    assert stock_of(sku, warehouse).on_hand == 10
