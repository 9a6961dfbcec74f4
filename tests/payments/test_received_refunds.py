"""Money a provider collected at another amount than the payable: the payment is flagged and
not paid, and what it received goes back to the buyer, at the order's timeout or by finance.
It is never booked as a refund of the order."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from apps.core.exceptions import Conflict
from apps.core.models import OutboxEvent
from apps.core.outbox import outbox_relay
from apps.orders.models import OrderStatus
from apps.orders.services import order_expire
from apps.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from apps.payments.selectors import refunds_succeeded_total, refunds_total
from apps.payments.services import payment_close_for_order, payment_refund_received, refund_submit
from tests.payments.factories import OrderFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/payments/payment/"


def short_payment(sandbox, start_payment, post_notification, *, provider: str, order_no: str) -> Payment:
    """The buyer pays 99.00 of 100.00; the signed callback flags the payment."""
    payment = start_payment(provider=provider, amount="100.00", order_no=order_no)
    headers, body = sandbox.pay(payment.out_trade_no, amount=Decimal("99.00"), notify=False)
    assert post_notification(provider, headers, body).status_code == 200
    payment.refresh_from_db()
    assert (payment.status, payment.flagged_for_finance, payment.paid_amount) == (
        PaymentStatus.CREATED,
        True,
        Decimal("99.00"),
    )
    return payment


def topics(topic: str) -> int:
    return OutboxEvent.objects.filter(topic=topic).count()


@pytest.mark.parametrize("provider", ["wechat", "alipay"])
def test_a_short_payment_is_refunded_when_the_order_times_out(sandbox, start_payment, post_notification, provider):
    order = OrderFactory(payable_amount=Decimal("100.00"), payment_deadline=timezone.now() - timedelta(seconds=1))
    payment = short_payment(sandbox, start_payment, post_notification, provider=provider, order_no=order.order_no)

    order_expire(order_no=order.order_no, actor="system:beat")
    outbox_relay()  # payments.close_for_order
    outbox_relay()  # the refund's first attempt at the provider

    refund = Refund.objects.get(payment=payment)
    assert refund.amount == Decimal("99.00")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CLOSED
    assert topics("payment.closed") == 0  # the trade is paid at the provider: nothing to close
    refund = refund_submit(refund_id=refund.pk, actor="t")  # WeChat answers PROCESSING first: ask again
    assert refund.status == RefundStatus.SUCCEEDED
    assert sandbox.refunds[refund.out_refund_no].amount == Decimal("99.00")
    # Returned to the buyer, but it never was the order's money.
    assert topics("payment.received_refunded") == 1
    assert topics("refund.succeeded") == 0
    assert (refunds_total(order.order_no), refunds_succeeded_total(order.order_no)) == (Decimal(0), Decimal(0))
    outbox_relay()
    order.refresh_from_db()
    assert (order.status, order.refunded_amount) == (OrderStatus.PAYMENT_TIMEOUT, Decimal("0.00"))


@pytest.mark.parametrize("provider", ["wechat", "alipay"])
def test_a_short_payment_arriving_after_the_order_timed_out_is_refunded_at_once(
    sandbox, start_payment, post_notification, provider
):
    """The payment was already closed with the order: no timeout will come to give it back."""
    order = OrderFactory(payable_amount=Decimal("100.00"), payment_deadline=timezone.now() - timedelta(seconds=1))
    payment = start_payment(provider=provider, amount="100.00", order_no=order.order_no)
    order_expire(order_no=order.order_no, actor="system:beat")
    payment_close_for_order(order_no=order.order_no)  # the close has not reached the provider yet

    headers, body = sandbox.pay(payment.out_trade_no, amount=Decimal("99.00"), notify=False)
    assert post_notification(provider, headers, body).status_code == 200
    assert post_notification(provider, headers, body).status_code == 200  # a duplicate: still one refund

    payment.refresh_from_db()
    assert (payment.status, payment.flagged_for_finance) == (PaymentStatus.CLOSED, True)
    refund = Refund.objects.get(payment=payment)
    assert (refund.amount, refund.requested_by) == (Decimal("99.00"), "system:payments")
    outbox_relay()  # the refund's first attempt at the provider
    refund = refund_submit(refund_id=refund.pk, actor="t")  # WeChat answers PROCESSING first: ask again
    assert refund.status == RefundStatus.SUCCEEDED
    assert sandbox.refunds[refund.out_refund_no].amount == Decimal("99.00")
    assert (topics("payment.received_refunded"), topics("refund.succeeded")) == (1, 0)
    outbox_relay()
    order.refresh_from_db()
    assert (order.status, order.refunded_amount) == (OrderStatus.PAYMENT_TIMEOUT, Decimal("0.00"))


def test_finance_refunds_a_flagged_payment_from_the_admin(sandbox, start_payment, post_notification, client):
    payment = short_payment(sandbox, start_payment, post_notification, provider="wechat", order_no="ORD-SHORT-1")
    user = User.objects.create_user("finance", password="x", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="payments", codename__in=["view_payment", "issue_refund"])
    )
    client.force_login(user)
    action = {"action": "refund_received", "_selected_action": [payment.pk]}

    client.post(CHANGELIST, action)
    client.post(CHANGELIST, action)  # twice: one refund

    refund = Refund.objects.get()
    assert (refund.payment_id, refund.amount, refund.status) == (payment.pk, Decimal("99.00"), RefundStatus.REQUESTED)
    assert refund.requested_by == "admin:finance"
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.CLOSED
    outbox_relay()
    refund = refund_submit(refund_id=refund.pk, actor="t")
    assert refund.status == RefundStatus.SUCCEEDED
    assert sandbox.refunds[refund.out_refund_no].amount == Decimal("99.00")


def test_the_admin_action_needs_the_refund_permission(sandbox, start_payment, post_notification, client):
    payment = short_payment(sandbox, start_payment, post_notification, provider="wechat", order_no="ORD-SHORT-2")
    user = User.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_payment"))
    client.force_login(user)

    client.post(CHANGELIST, {"action": "refund_received", "_selected_action": [payment.pk]})

    assert not Refund.objects.exists()
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.CREATED


def test_a_failed_return_can_be_asked_for_again(sandbox, start_payment, post_notification):
    payment = short_payment(sandbox, start_payment, post_notification, provider="alipay", order_no="ORD-SHORT-3")
    first = payment_refund_received(payment_id=payment.pk, reason="", actor="admin:finance")
    Refund.objects.filter(pk=first.pk).update(status=RefundStatus.FAILED)

    again = payment_refund_received(payment_id=payment.pk, reason="", actor="admin:finance")

    assert again.pk != first.pk
    assert again.amount == Decimal("99.00")
    assert refund_submit(refund_id=again.pk, actor="t").status == RefundStatus.SUCCEEDED


def test_only_money_received_outside_an_order_is_returned_this_way(paid_payment, start_payment):
    paid = paid_payment(amount="40.00")
    unpaid = start_payment(amount="40.00")

    for payment in (paid, unpaid):
        with pytest.raises(Conflict) as caught:
            payment_refund_received(payment_id=payment.pk, reason="", actor="admin:finance")
        assert caught.value.code == "payment_not_refundable"
    assert not Refund.objects.exists()
    assert Payment.objects.get(pk=unpaid.pk).status == PaymentStatus.CREATED


@pytest.mark.parametrize("short_first", [True, False], ids=["short-then-full", "full-then-short"])
def test_a_short_payment_is_refunded_once_another_payment_pays_the_order(
    sandbox, start_payment, post_notification, short_first
):
    """The buyer opened two QR codes: one paid short, the other in full, in either order."""
    order = OrderFactory(payable_amount=Decimal("100.00"))
    short = start_payment(provider="wechat", amount="100.00", order_no=order.order_no)
    full = start_payment(provider="alipay", amount="100.00", order_no=order.order_no)
    payments = [(short, "wechat", Decimal("99.00")), (full, "alipay", Decimal("100.00"))]

    for payment, provider, amount in payments if short_first else payments[::-1]:
        headers, body = sandbox.pay(payment.out_trade_no, amount=amount, notify=False)
        assert post_notification(provider, headers, body).status_code == 200

    refund = Refund.objects.get()
    assert (refund.payment_id, refund.amount) == (short.pk, Decimal("99.00"))
    full.refresh_from_db()
    assert full.status == PaymentStatus.SUCCEEDED
    assert (refunds_total(order.order_no), refunds_succeeded_total(order.order_no)) == (Decimal(0), Decimal(0))
