from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.exceptions import Conflict
from apps.core.models import OutboxEvent
from apps.orders.models import Fulfillment, Order
from apps.orders.services import (
    order_cancel,
    order_expire,
    order_mark_paid,
    order_record_refund,
    order_request_refund,
)
from apps.orders.services.common import order_apply_transition, order_lock
from apps.payments.models import Refund
from tests.orders.factories import create_order, pay, provider_pays, ship_ready, stock_of

pytestmark = pytest.mark.django_db


def _reload(order: Order) -> Order:
    return Order.objects.get(pk=order.pk)


def _overdue(order: Order) -> Order:
    Order.objects.filter(pk=order.pk).update(payment_deadline=timezone.now() - timedelta(seconds=1))
    return _reload(order)


def _events(order: Order) -> list[str]:
    return list(
        OutboxEvent.objects.filter(aggregate_type="order", aggregate_id=order.order_no)
        .order_by("id")
        .values_list("topic", flat=True)
    )


def _force(order: Order, *transitions: str) -> Order:
    from django.db import transaction

    with transaction.atomic():
        locked = order_lock(order_no=order.order_no)
        for name in transitions:
            order_apply_transition(order=locked, transition=name, actor="test")
    return _reload(order)


def test_mark_paid_records_the_payment(sku):
    order = create_order((sku, 1))
    paid_at = timezone.now()
    order_mark_paid(order_no=order.order_no, amount=Decimal("60.00"), paid_at=paid_at, method="wechat", actor="cs:1")
    order = _reload(order)
    assert (order.status, order.paid_amount, order.payment_method) == ("paid", Decimal("60.00"), "wechat")
    assert order.version == 1
    assert list(order.status_logs.values_list("from_status", "to_status", "operator"))[-1] == (
        "pending_payment",
        "paid",
        "cs:1",
    )
    assert _events(order)[-1] == "order.paid"


def test_mark_paid_with_a_wrong_amount_changes_nothing(sku):
    order = create_order((sku, 1))
    with pytest.raises(Conflict) as raised:
        order_mark_paid(order_no=order.order_no, amount=Decimal("59.99"), paid_at=timezone.now(), method="x", actor="t")
    assert raised.value.code == "payment_amount_mismatch"
    assert _reload(order).status == "pending_payment"


def test_paying_twice_is_refused(sku):
    order = pay(create_order((sku, 1)))
    with pytest.raises(Conflict) as raised:
        pay(order)
    assert raised.value.code == "invalid_status"
    assert _reload(order).paid_amount == Decimal("60.00")


def test_expire_closes_an_overdue_order_and_releases_its_stock(sku, warehouse):
    order = _overdue(create_order((sku, 3)))
    assert stock_of(sku, warehouse).reserved == 3
    expired = order_expire(order_no=order.order_no, actor="system:test")
    assert expired.status == "payment_timeout"
    assert stock_of(sku, warehouse).reserved == 0
    assert _events(order)[-1] == "order.payment_timeout"


def test_expire_before_the_deadline_or_after_payment_does_nothing(sku, warehouse):
    early = create_order((sku, 1))
    assert order_expire(order_no=early.order_no, actor="t") is None
    paid = _overdue(pay(create_order((sku, 1))))
    assert order_expire(order_no=paid.order_no, actor="t") is None
    assert (_reload(early).status, _reload(paid).status) == ("pending_payment", "paid")
    assert stock_of(sku, warehouse).reserved == 2


def test_cancel_an_unpaid_order_releases_stock_once(sku, warehouse):
    order = create_order((sku, 4))
    order_cancel(order_no=order.order_no, actor="buyer", reason="changed my mind")
    order = _reload(order)
    assert (order.status, order.cancel_reason) == ("cancelled", "changed my mind")
    assert stock_of(sku, warehouse).reserved == 0
    with pytest.raises(Conflict) as raised:
        order_cancel(order_no=order.order_no, actor="buyer", reason="again")
    assert raised.value.code == "invalid_status"
    assert stock_of(sku, warehouse).on_hand == 10


def test_a_paid_order_cannot_be_cancelled_but_refunded(sku, warehouse):
    order = pay(create_order((sku, 2)))
    with pytest.raises(Conflict):
        order_cancel(order_no=order.order_no, actor="t", reason="")
    order_request_refund(order_no=order.order_no, amount=Decimal("100.00"), actor="cs", remark="out of stock")
    assert _reload(order).status == "refunding"
    assert stock_of(sku, warehouse).reserved == 0
    order_record_refund(order_no=order.order_no, amount=Decimal("100.00"), actor="payments", refund_id="R1")
    order = _reload(order)
    assert (order.status, order.refunded_amount) == ("refunded", Decimal("100.00"))


def test_intercepting_an_order_awaiting_shipment_cancels_the_package_and_refunds_in_full(sku, warehouse):
    order = create_order((sku, 2))
    provider_pays(order.order_no, order.payable_amount)
    pay(order)
    fulfillment = ship_ready(order, fulfillment_status="sent_to_wms")

    order_cancel(order_no=order.order_no, actor="cs:amy", reason="buyer asked")

    order = _reload(order)
    assert order.status == "cancelled"
    assert Fulfillment.objects.get(pk=fulfillment.pk).status == "cancelled"
    assert stock_of(sku, warehouse).reserved == 0
    refund = Refund.objects.get(reference=f"cancel:{order.order_no}")
    assert refund.amount == Decimal("100.00")
    event = OutboxEvent.objects.get(topic="fulfillment.cancelled", aggregate_id=fulfillment.fulfillment_no)
    assert event.payload == {
        "fulfillment_no": fulfillment.fulfillment_no,
        "order_nos": [order.order_no],
        "warehouse_id": warehouse.pk,
        "status": "cancelled",
        "carrier": "",
        "tracking_no": "",
        "kind": "normal",
        "source_reference": "",
    }


def test_an_order_whose_package_shipped_cannot_be_cancelled(sku, warehouse):
    order = pay(create_order((sku, 2)))
    fulfillment = ship_ready(order, fulfillment_status="shipped")
    with pytest.raises(Conflict) as raised:
        order_cancel(order_no=order.order_no, actor="t", reason="")
    assert raised.value.code == "fulfillment_shipped"
    assert _reload(order).status == "pending_shipment"
    assert Fulfillment.objects.get(pk=fulfillment.pk).status == "shipped"
    assert stock_of(sku, warehouse).reserved == 2


def test_a_partial_refund_keeps_the_status_and_is_logged(sku):
    order = pay(create_order((sku, 1)))
    order_request_refund(order_no=order.order_no, amount=Decimal("10.00"), actor="cs", remark="price match")
    order_record_refund(order_no=order.order_no, amount=Decimal("10.00"), actor="payments", refund_id="R-part")
    order = _reload(order)
    assert (order.status, order.refunded_amount) == ("paid", Decimal("10.00"))
    with pytest.raises(Conflict) as raised:
        order_request_refund(order_no=order.order_no, amount=Decimal("50.01"), actor="cs")
    assert raised.value.code == "refund_exceeds_paid"


def test_a_refund_is_recorded_once_per_refund_id(sku):
    order = pay(create_order((sku, 1)))
    for _attempt in range(2):
        order_record_refund(order_no=order.order_no, amount=Decimal("5.00"), actor="payments", refund_id="R-dup")
    assert _reload(order).refunded_amount == Decimal("5.00")


def test_a_full_refund_of_a_shipped_order_intercepts_it_in_transit(sku):
    order = pay(create_order((sku, 1)))
    ship_ready(order, fulfillment_status="shipped")
    order = _force(order, "ship")
    order_request_refund(order_no=order.order_no, amount=Decimal("60.00"), actor="cs")
    assert _reload(order).status == "shipped"
    order_record_refund(order_no=order.order_no, amount=Decimal("60.00"), actor="payments", refund_id="R-ship")
    assert _reload(order).status == "refunded"


def test_refund_of_an_unpaid_order_is_refused(sku):
    order = create_order((sku, 1))
    with pytest.raises(Conflict) as raised:
        order_request_refund(order_no=order.order_no, amount=Decimal("1.00"), actor="cs")
    assert raised.value.code == "refund_exceeds_paid"


@pytest.mark.parametrize(
    ("path", "forbidden"),
    [
        ((), ["ship", "deliver", "complete", "finish_refund", "release", "hold"]),
        (("pay",), ["pay", "expire", "cancel", "ship", "finish_refund", "release"]),
        (("pay", "hold"), ["pay", "allocate", "cancel", "hold"]),
        (("pay", "allocate", "ship", "start_delivery", "deliver", "complete"), ["start_refund", "cancel", "complete"]),
        (("expire",), ["pay", "cancel", "start_refund", "expire"]),
    ],
)
def test_forbidden_transitions_answer_409_invalid_status(sku, path, forbidden):
    order = _force(create_order((sku, 1)), *path)
    status = order.status
    for name in forbidden:
        with pytest.raises(Conflict) as raised:
            _force(order, name)
        assert raised.value.code == "invalid_status"
    assert _reload(order).status == status


@pytest.mark.parametrize(
    ("path", "final"),
    [
        (("pay",), "paid"),
        (("pay", "hold"), "on_hold"),
        (("pay", "hold", "release"), "paid"),
        (("pay", "start_refund", "finish_refund"), "refunded"),
        (("pay", "hold", "start_refund", "finish_refund"), "refunded"),
        (("pay", "allocate", "cancel"), "cancelled"),
        (("pay", "allocate", "ship", "intercept_in_transit"), "refunded"),
        (("pay", "allocate", "ship", "start_delivery", "fail_delivery", "start_delivery", "deliver"), "delivered"),
        (("pay", "allocate", "ship", "start_delivery", "fail_delivery", "start_refund"), "refunding"),
        (("pay", "allocate", "ship", "start_delivery", "deliver", "complete"), "completed"),
        (("pay", "allocate", "ship", "start_delivery", "deliver", "start_refund"), "refunding"),
        (("cancel",), "cancelled"),
        (("expire",), "payment_timeout"),
    ],
)
def test_every_allowed_transition_is_logged_and_published(sku, path, final):
    order = _force(create_order((sku, 1)), *path)
    assert order.status == final
    assert order.version == len(path)
    assert order.status_logs.count() == len(path) + 1
    assert _events(order)[-1] == f"order.{final}"


# The lifecycle table of DESIGN.md, status -> the statuses it may move to.
DESIGN_LIFECYCLE = {
    "pending_payment": {"paid", "cancelled", "payment_timeout"},
    "paid": {"pending_shipment", "on_hold", "refunding"},
    "on_hold": {"paid", "refunding"},
    "pending_shipment": {"shipped", "cancelled"},
    "shipped": {"delivering", "refunded"},
    "delivering": {"delivered", "delivery_failed"},
    "delivery_failed": {"delivering", "refunding"},
    "delivered": {"completed", "refunding"},
    "refunding": {"refunded"},
    "completed": set(),
    "cancelled": set(),
    "payment_timeout": set(),
    "refunded": set(),
}
TRANSITIONS = sorted({t.name for t in Order._meta.get_field("status").get_all_transitions(Order)})


@pytest.mark.parametrize("status", sorted(DESIGN_LIFECYCLE))
def test_the_state_machine_is_exactly_the_design_table(status):
    order = Order(order_no="1", status=status)
    allowed = {t.name: str(t.target) for t in order.get_available_status_transitions()}
    assert set(allowed.values()) == DESIGN_LIFECYCLE[status]
    for name in sorted(set(TRANSITIONS) - set(allowed)):
        with pytest.raises(Conflict) as raised:
            order_apply_transition(order=Order(order_no="1", status=status), transition=name, actor="test")
        assert raised.value.code == "invalid_status"
