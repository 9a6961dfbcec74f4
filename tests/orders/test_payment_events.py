from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from apps.core.outbox import outbox_publish, outbox_relay
from apps.orders.models import Order, OrderStatusLog
from apps.orders.services import order_expire
from apps.payments.models import Refund
from tests.orders.factories import create_order, provider_pays, stock_of

pytestmark = pytest.mark.django_db


def _reload(order: Order) -> Order:
    return Order.objects.get(pk=order.pk)


def test_payment_succeeded_marks_the_order_paid_once(sku):
    order = create_order((sku, 1))
    payment = provider_pays(order.order_no, order.payable_amount)
    outbox_relay()
    order = _reload(order)
    assert (order.status, order.paid_amount, order.payment_method) == ("paid", Decimal("60.00"), "alipay")
    with transaction.atomic():
        outbox_publish(
            topic="payment.succeeded",
            aggregate_type="payment",
            aggregate_id=payment.pk,
            payload={
                "order_no": order.order_no,
                "payment_id": payment.pk,
                "out_trade_no": payment.out_trade_no,
                "amount": "60.00",
                "paid_at": timezone.now().isoformat(),
                "provider": "alipay",
            },
        )
    outbox_relay()
    order = _reload(order)
    assert order.paid_amount == Decimal("60.00")
    assert not Refund.objects.filter(order_no=order.order_no).exists()


def test_payment_after_the_timeout_is_recorded_and_refunded_automatically(sku, warehouse):
    order = create_order((sku, 1))
    Order.objects.filter(pk=order.pk).update(payment_deadline=timezone.now() - timedelta(seconds=1))
    order_expire(order_no=order.order_no, actor="system:test")

    payment = provider_pays(order.order_no, order.payable_amount)
    outbox_relay()

    order = _reload(order)
    assert order.status == "payment_timeout"
    assert order.paid_amount == Decimal("60.00")
    refund = Refund.objects.get(reference=f"late:{payment.out_trade_no}")
    assert refund.amount == Decimal("60.00")
    assert OrderStatusLog.objects.filter(order=order, remark__contains=payment.out_trade_no).count() == 1
    assert stock_of(sku, warehouse).reserved == 0


def test_a_second_payment_of_a_paid_order_is_refunded(sku):
    order = create_order((sku, 1))
    provider_pays(order.order_no, order.payable_amount)
    second = provider_pays(order.order_no, order.payable_amount)
    outbox_relay()
    order = _reload(order)
    assert (order.status, order.paid_amount) == ("paid", Decimal("120.00"))
    assert Refund.objects.get(reference=f"late:{second.out_trade_no}").amount == Decimal("60.00")


def test_refund_succeeded_is_recorded_once(sku):
    order = create_order((sku, 1))
    provider_pays(order.order_no, order.payable_amount)
    outbox_relay()
    payload = {"order_no": order.order_no, "refund_id": 77, "reference": "as-1", "amount": "20.00"}
    for _attempt in range(2):
        with transaction.atomic():
            outbox_publish(topic="refund.succeeded", aggregate_type="refund", aggregate_id=77, payload=payload)
        outbox_relay()
    order = _reload(order)
    assert order.refunded_amount == Decimal("20.00")
    assert order.status not in ("refunding", "refunded")  # a partial refund moves nothing


def test_an_amount_mismatch_is_noted_for_finance_without_holding_the_order(sku):
    order = create_order((sku, 1))
    payload = {"order_no": order.order_no, "payment_id": 5, "amount": "6.00", "expected": "60.00"}
    for _attempt in range(2):
        with transaction.atomic():
            outbox_publish(topic="payment.amount_mismatch", aggregate_type="payment", aggregate_id=5, payload=payload)
        outbox_relay()
    order = _reload(order)
    assert order.status == "pending_payment"
    assert OrderStatusLog.objects.filter(order=order, remark__contains="finance").count() == 1
