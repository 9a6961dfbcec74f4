"""Callbacks end to end: the sandbox signs, our endpoint verifies, applies once and replies
as the provider expects."""

import json
from decimal import Decimal

import pytest

from apps.core.models import Alert, OutboxEvent
from apps.payments.models import Payment, PaymentNotification, PaymentStatus
from apps.payments.services import payment_close_for_order

pytestmark = pytest.mark.django_db


def events(topic: str) -> list[dict]:
    return [e.payload for e in OutboxEvent.objects.filter(topic=topic).order_by("id")]


def test_wechat_success_marks_paid_once_and_replies_success(sandbox, start_payment, post_notification):
    payment = start_payment(provider="wechat", amount="88.00")
    headers, body = sandbox.pay(payment.out_trade_no, notify=False)

    first = post_notification("wechat", headers, body)
    again = post_notification("wechat", headers, body)

    assert first.status_code == again.status_code == 200
    assert json.loads(first.content)["code"] == "SUCCESS"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.paid_at is not None
    assert payment.transaction_id == sandbox.trades[payment.out_trade_no].transaction_id
    published = events("payment.succeeded")
    assert len(published) == 1
    assert published[0]["order_no"] == payment.order_no
    assert published[0]["amount"] == "88.00"
    outcomes = list(PaymentNotification.objects.order_by("id").values_list("verified", "outcome"))
    assert outcomes == [(True, "paid"), (True, "duplicate")]


def test_bad_signature_answers_401_logs_and_changes_nothing(sandbox, start_payment, post_notification):
    payment = start_payment(provider="wechat")
    headers, body = sandbox.pay(payment.out_trade_no, notify=False)
    forged = body.replace(b"TRANSACTION.SUCCESS", b"TRANSACTION.SUCCESS ")

    response = post_notification("wechat", headers, forged)

    assert response.status_code == 401
    assert json.loads(response.content)["code"] == "FAIL"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CREATED
    note = PaymentNotification.objects.get()
    assert (note.verified, note.outcome, note.body) == (False, "refused", forged.decode())
    assert events("payment.succeeded") == []


def test_alipay_bad_signature_answers_failure(sandbox, start_payment, post_notification):
    payment = start_payment(provider="alipay")
    headers, body = sandbox.pay(payment.out_trade_no, notify=False)

    response = post_notification(
        "alipay", headers, body.replace(b"trade_status=TRADE_SUCCESS", b"trade_status=TRADE_FINISHED")
    )

    assert (response.status_code, response.content) == (401, b"failure")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CREATED


def test_amount_mismatch_flags_for_finance_and_does_not_pay(sandbox, start_payment, post_notification):
    payment = start_payment(provider="wechat", amount="100.00")
    headers, body = sandbox.pay(payment.out_trade_no, amount=Decimal("1.00"), notify=False)

    response = post_notification("wechat", headers, body)

    assert response.status_code == 200  # applied (flagged): WeChat must stop retrying
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CREATED
    assert payment.flagged_for_finance
    assert payment.paid_amount == Decimal("1.00")
    assert events("payment.succeeded") == []
    assert events("payment.amount_mismatch") == [
        {"order_no": payment.order_no, "payment_id": payment.pk, "amount": "1.00", "expected": "100.00"}
    ]


def test_a_replayed_alipay_notification_changes_nothing_and_is_answered_success(
    sandbox, start_payment, post_notification
):
    payment = start_payment(provider="alipay", amount="45.60")
    headers, body = sandbox.pay(payment.out_trade_no, notify=False)

    first = post_notification("alipay", headers, body)
    payment.refresh_from_db()
    after_first = Payment.objects.filter(pk=payment.pk).values().get()
    replay = post_notification("alipay", headers, body)

    assert (first.content, replay.content) == (b"success", b"success")
    assert Payment.objects.filter(pk=payment.pk).values().get() == after_first
    assert after_first["status"] == PaymentStatus.SUCCEEDED
    assert len(events("payment.succeeded")) == 1
    outcomes = list(PaymentNotification.objects.order_by("id").values_list("verified", "outcome"))
    assert outcomes == [(True, "paid"), (True, "duplicate")]


def test_alipay_trade_success_then_finished_is_one_payment(sandbox, start_payment, post_notification):
    payment = start_payment(provider="alipay", amount="45.60")
    headers, body = sandbox.pay(payment.out_trade_no, notify=False)
    finished_headers, finished_body = sandbox.notification(payment.out_trade_no, trade_status="TRADE_FINISHED")

    first = post_notification("alipay", headers, body)
    second = post_notification("alipay", finished_headers, finished_body)

    assert (first.content, second.content) == (b"success", b"success")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert len(events("payment.succeeded")) == 1


def test_alipay_notifications_out_of_order_leave_one_payment(sandbox, start_payment, post_notification):
    """TRADE_FINISHED before TRADE_SUCCESS, then the TRADE_CLOSED Alipay sends after a full
    refund: one payment, still succeeded, every one answered ``success``."""
    payment = start_payment(provider="alipay", amount="45.60")
    success = sandbox.pay(payment.out_trade_no, notify=False)
    finished = sandbox.notification(payment.out_trade_no, trade_status="TRADE_FINISHED")
    closed = sandbox.notification(payment.out_trade_no, trade_status="TRADE_CLOSED")

    replies = [post_notification("alipay", *n).content for n in (finished, success, closed)]

    assert replies == [b"success"] * 3
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert len(events("payment.succeeded")) == 1
    assert list(PaymentNotification.objects.order_by("id").values_list("outcome", flat=True)) == [
        "paid",
        "duplicate",
        "duplicate",
    ]


def test_alipay_wait_buyer_pay_does_not_pay(sandbox, start_payment, post_notification):
    payment = start_payment(provider="alipay")
    headers, body = sandbox.notification(payment.out_trade_no, trade_status="WAIT_BUYER_PAY")

    assert post_notification("alipay", headers, body).content == b"success"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CREATED


def test_success_after_the_order_closed_the_payment_still_records_the_money(sandbox, start_payment, post_notification):
    """Out of order: the timeout closed the payment, then the buyer's payment is reported."""
    payment = start_payment(provider="wechat", amount="30.00")
    headers, body = sandbox.pay(payment.out_trade_no, notify=False)
    assert payment_close_for_order(order_no=payment.order_no) == 1

    response = post_notification("wechat", headers, body)

    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert [e["out_trade_no"] for e in events("payment.succeeded")] == [payment.out_trade_no]


def test_unknown_trade_is_answered_with_a_failure_so_the_provider_retries(sandbox, start_payment, post_notification):
    payment = start_payment(provider="wechat")
    headers, body = sandbox.pay(payment.out_trade_no, notify=False)
    Payment.objects.filter(pk=payment.pk).delete()

    response = post_notification("wechat", headers, body)

    assert response.status_code == 404
    notification = PaymentNotification.objects.get()
    assert notification.outcome == "unknown"
    alert = Alert.objects.get(kind="payment_notification_unknown")
    assert payment.out_trade_no in alert.message
    assert alert.details["notification_id"] == notification.pk

    post_notification("wechat", headers, body)  # the provider retries: one alert, counted twice
    assert Alert.objects.get(kind="payment_notification_unknown").occurrences == 2
