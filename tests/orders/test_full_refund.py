"""A full refund made outside the order services (the finance admin, a provider's
refund.succeeded for the whole amount) must stop the order from shipping."""

from decimal import Decimal

import pytest

from apps.core.models import Alert, OutboxEvent
from apps.orders.models import Fulfillment, Order
from apps.orders.services import order_hold, order_record_refund
from apps.orders.services.common import order_apply_transition, order_lock
from apps.payments.models import Refund
from tests.orders.factories import create_order, pay, ship_ready, stock_of

pytestmark = pytest.mark.django_db


def _reload(order: Order) -> Order:
    return Order.objects.get(pk=order.pk)


def _force(order: Order, *transitions: str) -> Order:
    from django.db import transaction

    with transaction.atomic():
        locked = order_lock(order_no=order.order_no)
        for name in transitions:
            order_apply_transition(order=locked, transition=name, actor="test")
    return _reload(order)


def _refund_all(order: Order, refund_id: str) -> Order:
    order_record_refund(order_no=order.order_no, amount=order.paid_amount, actor="system:payments", refund_id=refund_id)
    return _reload(order)


def _path(order: Order) -> list[tuple[str, str]]:
    return list(order.status_logs.order_by("id").values_list("from_status", "to_status"))


def test_a_paid_order_refunded_in_full_is_refunded_and_its_stock_released(sku, warehouse):
    order = pay(create_order((sku, 2)))
    assert stock_of(sku, warehouse).reserved == 2

    order = _refund_all(order, "R-paid")

    assert (order.status, order.refunded_amount) == ("refunded", order.paid_amount)
    assert _path(order)[-2:] == [("paid", "refunding"), ("refunding", "refunded")]
    assert stock_of(sku, warehouse).reserved == 0
    assert stock_of(sku, warehouse).on_hand == 10
    # The same refund reported again changes nothing.
    version = order.version
    order = _refund_all(order, "R-paid")
    assert (order.status, order.version, order.refunded_amount) == ("refunded", version, order.paid_amount)


def test_a_held_order_refunded_in_full_is_refunded_and_its_stock_released(sku, warehouse):
    order = pay(create_order((sku, 1)))
    order_hold(order_no=order.order_no, actor="cs:amy", reason="call the buyer")

    order = _refund_all(order, "R-held")

    assert order.status == "refunded"
    assert _path(order)[-2:] == [("on_hold", "refunding"), ("refunding", "refunded")]
    assert stock_of(sku, warehouse).reserved == 0


def test_an_order_awaiting_shipment_refunded_in_full_is_cancelled_and_its_package_intercepted(sku, warehouse):
    order = pay(create_order((sku, 2)))
    fulfillment = ship_ready(order, fulfillment_status="sent_to_wms")

    order = _refund_all(order, "R-pending")

    assert (order.status, order.refunded_amount) == ("cancelled", order.paid_amount)
    assert Fulfillment.objects.get(pk=fulfillment.pk).status == "cancelled"
    assert OutboxEvent.objects.filter(topic="fulfillment.cancelled", aggregate_id=fulfillment.fulfillment_no).exists()
    assert stock_of(sku, warehouse).reserved == 0
    # The money is already back: no second refund is asked for.
    assert not Refund.objects.filter(order_no=order.order_no).exists()
    version = order.version
    assert _refund_all(order, "R-pending").version == version


def test_an_order_whose_package_already_shipped_keeps_its_status_and_raises_an_alert(sku, warehouse):
    order = pay(create_order((sku, 2)))
    fulfillment = ship_ready(order, fulfillment_status="shipped")

    order = _refund_all(order, "R-shipped-package")

    assert (order.status, order.refunded_amount) == ("pending_shipment", order.paid_amount)
    assert Fulfillment.objects.get(pk=fulfillment.pk).status == "shipped"
    alert = Alert.objects.get(kind="order_refunded_not_intercepted")
    assert order.order_no in alert.message


@pytest.mark.parametrize(
    ("transitions", "status"),
    [
        (("ship", "start_delivery", "deliver"), "delivered"),
        (("ship", "start_delivery", "fail_delivery"), "delivery_failed"),
    ],
)
def test_a_delivered_or_failed_delivery_order_refunded_in_full_goes_through_refunding(sku, transitions, status):
    order = pay(create_order((sku, 1)))
    ship_ready(order, fulfillment_status="shipped")
    order = _force(order, *transitions)
    assert order.status == status

    order = _refund_all(order, f"R-{status}")

    assert order.status == "refunded"
    assert _path(order)[-2:] == [(status, "refunding"), ("refunding", "refunded")]


def test_a_partial_refund_of_a_paid_order_still_only_logs(sku, warehouse):
    order = pay(create_order((sku, 2)))
    order_record_refund(order_no=order.order_no, amount=Decimal("10.00"), actor="payments", refund_id="R-part")
    order = _reload(order)
    assert (order.status, order.refunded_amount) == ("paid", Decimal("10.00"))
    assert stock_of(sku, warehouse).reserved == 2
