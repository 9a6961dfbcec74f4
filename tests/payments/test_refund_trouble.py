"""Refunds when the provider is in trouble: WeChat Pay rate limiting (429) or a 5xx is retried
with backoff, and an Alipay refund the gateway never kept is sent again, counted, and ends
failed with an alert when it never arrives. Refusals the providers document as temporary
are retried the same way; other refusals fail the refund at once."""

from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.models import Alert, OutboxEvent
from apps.payments.models import Refund, RefundStatus
from apps.payments.selectors import refunds_succeeded_total
from apps.payments.services import refund_request, refund_submit

pytestmark = pytest.mark.django_db


def _due_now(refund: Refund) -> None:
    Refund.objects.filter(pk=refund.pk).update(next_attempt_at=timezone.now())


@pytest.mark.parametrize("status", [429, 503])
def test_a_rate_limited_or_failing_wechat_gateway_is_retried_then_the_refund_succeeds(
    sandbox, paid_payment, settings, status
):
    settings.REFUND_MAX_ATTEMPTS = 5
    payment = paid_payment(provider="wechat", amount="40.00")
    refund = refund_request(
        out_trade_no=payment.out_trade_no, amount=Decimal("40.00"), reason="", reference="T-1", actor="t"
    )
    sandbox.fail_next(2, status=status)

    refund = refund_submit(refund_id=refund.pk, actor="t")
    assert (refund.status, refund.attempts) == (RefundStatus.REQUESTED, 1)
    assert str(status) in refund.last_error
    assert refund.next_attempt_at > timezone.now()  # backoff, not a refusal
    _due_now(refund)
    refund = refund_submit(refund_id=refund.pk, actor="t")
    assert (refund.status, refund.attempts) == (RefundStatus.REQUESTED, 2)

    _due_now(refund)
    refund = refund_submit(refund_id=refund.pk, actor="t")
    assert refund.status == RefundStatus.PROCESSING  # WeChat accepted it
    _due_now(refund)
    refund = refund_submit(refund_id=refund.pk, actor="t")

    assert refund.status == RefundStatus.SUCCEEDED
    assert list(sandbox.refunds) == [refund.out_refund_no]
    assert refunds_succeeded_total(payment.order_no) == Decimal("40.00")
    assert not OutboxEvent.objects.filter(topic="refund.failed").exists()


def test_a_lost_alipay_refund_is_sent_again_under_the_same_number_and_succeeds(sandbox, paid_payment, settings):
    settings.REFUND_MAX_ATTEMPTS = 5
    payment = paid_payment(provider="alipay", amount="66.00")
    refund = refund_request(
        out_trade_no=payment.out_trade_no, amount=Decimal("66.00"), reason="", reference="L-1", actor="t"
    )
    sandbox.lose_refunds(1)

    refund = refund_submit(refund_id=refund.pk, actor="t")
    assert (refund.status, refund.attempts) == (RefundStatus.REQUESTED, 1)
    assert sandbox.refunds == {}  # the gateway never kept it
    _due_now(refund)
    refund = refund_submit(refund_id=refund.pk, actor="t")

    assert refund.status == RefundStatus.SUCCEEDED
    assert list(sandbox.refunds) == [refund.out_refund_no]
    assert refunds_succeeded_total(payment.order_no) == Decimal("66.00")


def test_a_processing_alipay_refund_the_gateway_does_not_know_is_sent_again(sandbox, paid_payment, settings):
    """A refund left processing while the gateway never got it (what used to stay forever)."""
    settings.REFUND_MAX_ATTEMPTS = 5
    payment = paid_payment(provider="alipay", amount="30.00")
    refund = refund_request(
        out_trade_no=payment.out_trade_no, amount=Decimal("30.00"), reason="", reference="L-2", actor="t"
    )
    Refund.objects.filter(pk=refund.pk).update(status=RefundStatus.PROCESSING)

    refund = refund_submit(refund_id=refund.pk, actor="t")

    assert (refund.status, refund.attempts) == (RefundStatus.SUCCEEDED, 1)
    assert list(sandbox.refunds) == [refund.out_refund_no]


def test_an_alipay_refund_lost_every_time_fails_with_an_alert(sandbox, paid_payment, settings):
    settings.REFUND_MAX_ATTEMPTS = 3
    payment = paid_payment(provider="alipay", amount="20.00")
    refund = refund_request(
        out_trade_no=payment.out_trade_no, amount=Decimal("20.00"), reason="", reference="L-3", actor="t"
    )
    sandbox.lose_refunds(10)

    for _attempt in range(3):
        refund = refund_submit(refund_id=refund.pk, actor="t")
        _due_now(refund)

    refund.refresh_from_db()
    assert (refund.status, refund.attempts) == (RefundStatus.FAILED, 3)
    assert "no record" in refund.last_error
    assert sandbox.refunds == {}
    assert [e.payload["reference"] for e in OutboxEvent.objects.filter(topic="refund.failed")] == ["L-3"]
    assert Alert.objects.filter(kind="refund_failed", open_key="refund-failed:L-3").exists()
    # A failed refund stays failed: nothing more is sent.
    assert refund_submit(refund_id=refund.pk, actor="t").status == RefundStatus.FAILED
    assert sandbox.refunds_to_lose == 7


@pytest.mark.parametrize(
    ("provider", "code", "status"),
    [
        ("wechat", "NOT_ENOUGH", 403),  # the merchant's balance is short: top up, then it goes through
        # Statuses the HTTP layer does not already retry (documented: 500, 429): the code decides.
        ("wechat", "SYSTEM_ERROR", 400),
        ("wechat", "FREQUENCY_LIMITED", 403),
        ("alipay", "ACQ.SYSTEM_ERROR", 0),
        ("alipay", "aop.ACQ.SYSTEM_ERROR", 0),
    ],
)
def test_a_temporary_refusal_is_retried_with_backoff_then_the_refund_succeeds(
    sandbox, paid_payment, settings, provider, code, status
):
    settings.REFUND_MAX_ATTEMPTS = 5
    payment = paid_payment(provider=provider, amount="25.00")
    refund = refund_request(
        out_trade_no=payment.out_trade_no, amount=Decimal("25.00"), reason="", reference="TR-1", actor="t"
    )
    sandbox.refuse_refunds(2, code=code, status=status)

    for attempt in (1, 2):
        refund = refund_submit(refund_id=refund.pk, actor="t")
        assert (refund.status, refund.attempts) == (RefundStatus.REQUESTED, attempt)
        assert code in refund.last_error
        assert refund.next_attempt_at > timezone.now()  # backoff, not a refusal
        _due_now(refund)
    for _answer in range(2):  # WeChat answers PROCESSING first, Alipay succeeds at once
        refund = refund_submit(refund_id=refund.pk, actor="t")
        _due_now(refund)

    assert refund.status == RefundStatus.SUCCEEDED
    assert refunds_succeeded_total(payment.order_no) == Decimal("25.00")
    assert not OutboxEvent.objects.filter(topic="refund.failed").exists()


@pytest.mark.parametrize(
    ("provider", "code", "status"),
    [("wechat", "USER_ACCOUNT_ABNORMAL", 403), ("alipay", "ACQ.TRADE_STATUS_ERROR", 0)],
)
def test_a_final_refusal_fails_the_refund_at_once(sandbox, paid_payment, settings, provider, code, status):
    settings.REFUND_MAX_ATTEMPTS = 5
    payment = paid_payment(provider=provider, amount="25.00")
    refund = refund_request(
        out_trade_no=payment.out_trade_no, amount=Decimal("25.00"), reason="", reference="TR-2", actor="t"
    )
    sandbox.refuse_refunds(1, code=code, status=status)

    refund = refund_submit(refund_id=refund.pk, actor="t")

    assert refund.status == RefundStatus.FAILED
    assert code in refund.last_error
    assert sandbox.refunds == {}
    assert Alert.objects.filter(kind="refund_failed", open_key="refund-failed:TR-2").exists()
