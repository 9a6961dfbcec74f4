"""Active query (lost callbacks) and closing abandoned payments, against the sandbox."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.models import OutboxEvent
from apps.core.outbox import outbox_publish, outbox_relay
from apps.payments.models import Payment, PaymentStatus
from apps.payments.services import payment_close_for_order, payments_close_expired, payments_query_open

pytestmark = pytest.mark.django_db


def age(payment: Payment, minutes: int) -> None:
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(minutes=minutes))


@pytest.mark.parametrize("provider", ["wechat", "alipay"])
def test_active_query_recovers_a_lost_callback(sandbox, start_payment, provider):
    paid = start_payment(provider=provider, amount="66.00")
    unpaid = start_payment(provider=provider, amount="12.00")
    fresh = start_payment(provider=provider, amount="5.00")
    sandbox.pay(paid.out_trade_no, notify=False)  # the callback is lost
    sandbox.pay(fresh.out_trade_no, notify=False)  # paid, but a callback may still come
    age(paid, 3)
    age(unpaid, 3)

    counts = payments_query_open(actor="system:beat")

    assert counts == {"paid": 1, "pending": 1}
    paid.refresh_from_db()
    assert paid.status == PaymentStatus.SUCCEEDED
    assert paid.transaction_id == sandbox.trades[paid.out_trade_no].transaction_id
    assert Payment.objects.get(pk=unpaid.pk).status == PaymentStatus.CREATED
    assert Payment.objects.get(pk=fresh.pk).status == PaymentStatus.CREATED
    events = OutboxEvent.objects.filter(topic="payment.succeeded")
    assert [e.payload["out_trade_no"] for e in events] == [paid.out_trade_no]
    assert payments_query_open(actor="system:beat") == {"pending": 1}  # nothing applied twice


def test_trade_not_yet_known_to_alipay_stays_open_until_the_deadline(sandbox, start_payment, settings):
    """Alipay opens a precreate trade only when the buyer scans the QR code: until then the
    query answers ACQ.TRADE_NOT_EXIST, and the QR code can still be paid."""
    payment = start_payment(provider="alipay", amount="18.00")
    unscanned = sandbox.trades.pop(payment.out_trade_no)
    age(payment, 3)

    assert payments_query_open(actor="system:beat") == {"pending": 1}
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.CREATED

    sandbox.trades[payment.out_trade_no] = unscanned  # the buyer scans and pays
    sandbox.pay(payment.out_trade_no, notify=False)
    assert payments_query_open(actor="system:beat") == {"paid": 1}
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.SUCCEEDED


def test_trade_never_opened_is_closed_at_the_deadline(sandbox, start_payment, settings):
    payment = start_payment(provider="alipay")
    sandbox.trades.pop(payment.out_trade_no)
    age(payment, settings.PAYMENT_DEADLINE_MINUTES + 1)

    assert payments_query_open(actor="system:beat") == {"pending": 1}
    assert payments_close_expired(actor="system:beat") == 1
    outbox_relay()  # closing a trade Alipay never opened is not an error

    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.CLOSED


def test_order_timeout_closes_the_trade_at_the_provider(sandbox, start_payment):
    payment = start_payment(provider="wechat")
    OutboxEvent.objects.all().delete()
    outbox_publish(
        topic="order.payment_timeout",
        aggregate_type="order",
        aggregate_id=payment.order_no,
        payload={"order_no": payment.order_no, "status": "payment_timeout", "version": 2, "shop_id": None},
    )
    outbox_relay()  # payments.close_for_order closes locally and publishes payment.closed
    outbox_relay()  # payments.provider_close closes the trade at WeChat

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CLOSED
    assert sandbox.trades[payment.out_trade_no].status == "CLOSED"


@pytest.mark.parametrize("provider", ["wechat", "alipay"])
def test_closing_a_trade_the_buyer_already_paid_records_the_payment(sandbox, start_payment, provider):
    payment = start_payment(provider=provider, amount="20.00")
    sandbox.pay(payment.out_trade_no, notify=False)

    assert payment_close_for_order(order_no=payment.order_no) == 1
    outbox_relay()

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert OutboxEvent.objects.filter(topic="payment.succeeded").count() == 1


def test_payments_past_the_deadline_are_closed_by_the_sweep(sandbox, start_payment, settings):
    old = start_payment(provider="alipay")
    recent = start_payment(provider="alipay")
    age(old, settings.PAYMENT_DEADLINE_MINUTES + 1)

    assert payments_close_expired(actor="system:beat") == 1
    outbox_relay()

    assert Payment.objects.get(pk=old.pk).status == PaymentStatus.CLOSED
    assert sandbox.trades[old.out_trade_no].status == "CLOSED"
    assert Payment.objects.get(pk=recent.pk).status == PaymentStatus.CREATED
