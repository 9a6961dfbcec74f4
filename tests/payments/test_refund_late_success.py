"""A refund we gave up on that the provider carried out after all: the provider's success wins.

We only mark a refund failed for unreachability after asking the provider's refund query,
and a success reported later (callback or query) makes a failed refund succeeded again; if
a retry was accepted meanwhile, finance gets an error alert naming both refunds.
"""

from decimal import Decimal

import pytest

from apps.core.exceptions import Conflict
from apps.core.models import Alert, OutboxEvent
from apps.payments.models import Refund, RefundStatus
from apps.payments.providers.base import RefundResult, RefundState
from apps.payments.selectors import refunds_succeeded_total, refunds_total
from apps.payments.services import refund_apply_result, refund_request, refund_submit

pytestmark = pytest.mark.django_db


def failed_refund(sandbox, paid_payment, settings, *, reference: str, amount: str = "40.00") -> Refund:
    """A refund the gateway carried out while every answer it sent (the refund call's and
    the refund query's) was lost: with one attempt allowed, we mark it failed."""
    settings.REFUND_MAX_ATTEMPTS = 1
    payment = paid_payment(provider="wechat", amount=amount)
    refund = refund_request(
        out_trade_no=payment.out_trade_no, amount=Decimal(amount), reason="", reference=reference, actor="t"
    )
    sandbox.lose_refund_answers(2)
    refund = refund_submit(refund_id=refund.pk, actor="t")
    assert refund.status == RefundStatus.FAILED
    assert refund.out_refund_no in sandbox.refunds  # the money went out all the same
    assert Alert.objects.filter(kind="refund_failed", open_key=f"refund-failed:{reference}").exists()
    return refund


def test_the_refund_query_is_asked_before_an_unreachable_provider_fails_the_refund(sandbox, paid_payment, settings):
    settings.REFUND_MAX_ATTEMPTS = 1
    payment = paid_payment(provider="wechat", amount="40.00")
    refund = refund_request(
        out_trade_no=payment.out_trade_no, amount=Decimal("40.00"), reason="", reference="Q-1", actor="t"
    )
    sandbox.lose_refund_answers(1)  # the refund call is carried out, its answer lost

    refund = refund_submit(refund_id=refund.pk, actor="t")

    assert refund.status == RefundStatus.SUCCEEDED
    assert refunds_succeeded_total(payment.order_no) == Decimal("40.00")
    assert not OutboxEvent.objects.filter(topic="refund.failed").exists()
    assert not Alert.objects.filter(kind="refund_failed").exists()


def test_a_refund_the_provider_does_not_know_still_fails_after_the_query(sandbox, paid_payment, settings):
    settings.REFUND_MAX_ATTEMPTS = 1
    payment = paid_payment(provider="wechat", amount="40.00")
    refund = refund_request(
        out_trade_no=payment.out_trade_no, amount=Decimal("40.00"), reason="", reference="Q-2", actor="t"
    )
    sandbox.fail_next(1, status=503)  # the refund call never reaches the gateway

    refund = refund_submit(refund_id=refund.pk, actor="t")

    assert refund.status == RefundStatus.FAILED
    assert sandbox.refunds == {}
    assert Alert.objects.filter(kind="refund_failed", open_key="refund-failed:Q-2").exists()


def test_a_success_callback_for_a_failed_refund_makes_it_succeeded(sandbox, paid_payment, settings, post_notification):
    refund = failed_refund(sandbox, paid_payment, settings, reference="LATE-1")

    headers, body = sandbox.refund_notification(refund.out_refund_no)
    assert post_notification("wechat", headers, body).status_code == 200

    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert refunds_succeeded_total(refund.order_no) == Decimal("40.00")
    assert [e.payload["reference"] for e in OutboxEvent.objects.filter(topic="refund.succeeded")] == ["LATE-1"]
    assert not Alert.objects.filter(kind="refund_failed", open_key__isnull=False).exists()  # no longer true
    assert not Alert.objects.filter(kind="refund_over_paid").exists()
    # It counts again: the same money cannot be asked back a second time.
    with pytest.raises(Conflict) as caught:
        refund_request(
            out_trade_no=refund.payment.out_trade_no, amount=Decimal("40.00"), reason="", reference="AS:1:2", actor="t"
        )
    assert caught.value.code == "refund_exceeds_paid"
    # The callback again changes nothing.
    assert post_notification("wechat", headers, body).status_code == 200
    assert OutboxEvent.objects.filter(topic="refund.succeeded").count() == 1


def test_a_late_success_after_a_retry_was_accepted_raises_an_error_alert_naming_both(sandbox, paid_payment, settings):
    refund = failed_refund(sandbox, paid_payment, settings, reference="AS:7:1")
    retry = refund_request(
        out_trade_no=refund.payment.out_trade_no, amount=Decimal("40.00"), reason="", reference="AS:7:2", actor="t"
    )
    assert retry.status == RefundStatus.REQUESTED  # accepted while the first counted as failed

    refund, outcome = refund_apply_result(
        result=RefundResult(reference=refund.out_refund_no, state=RefundState.SUCCEEDED, refund_id="5030late"),
        actor="provider:wechat",
    )

    assert (outcome, refund.status, refund.provider_refund_id) == ("succeeded", RefundStatus.SUCCEEDED, "5030late")
    assert refunds_total(refund.order_no) == Decimal("80.00")  # of 40.00 paid
    alert = Alert.objects.get(kind="refund_over_paid")
    assert alert.severity == Alert.Severity.ERROR
    assert "AS:7:1" in alert.message and "AS:7:2" in alert.message and "40.00" in alert.message
    assert alert.details["other_references"] == ["AS:7:2"]
    assert OutboxEvent.objects.filter(topic="refund.succeeded", aggregate_id=str(refund.pk)).count() == 1


def test_a_failure_reported_for_a_failed_refund_changes_nothing(sandbox, paid_payment, settings):
    refund = failed_refund(sandbox, paid_payment, settings, reference="LATE-3")

    refund, outcome = refund_apply_result(
        result=RefundResult(reference=refund.out_refund_no, state=RefundState.FAILED), actor="provider:wechat"
    )

    assert (outcome, refund.status) == ("duplicate", RefundStatus.FAILED)
    assert Alert.objects.filter(kind="refund_failed", open_key="refund-failed:LATE-3").exists()
