"""Refunds: never more than was paid (also under concurrency), idempotent by reference,
sent to the provider with retries, completed by the answer, a callback or a query."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from apps.core.exceptions import Conflict
from apps.core.models import OutboxEvent
from apps.core.outbox import outbox_relay
from apps.payments.models import Refund, RefundStatus
from apps.payments.selectors import refunds_succeeded_total, refunds_total
from apps.payments.services import refund_request, refund_request_for_order, refund_submit, refunds_process_due


def topics(topic: str) -> list[dict]:
    return [e.payload for e in OutboxEvent.objects.filter(topic=topic).order_by("id")]


@pytest.mark.django_db
def test_refunds_cannot_exceed_what_was_paid(paid_payment):
    payment = paid_payment(amount="100.00")
    refund_request(out_trade_no=payment.out_trade_no, amount=Decimal("60.00"), reason="r", reference="A", actor="test")

    with pytest.raises(Conflict) as excinfo:
        refund_request(
            out_trade_no=payment.out_trade_no, amount=Decimal("40.01"), reason="r", reference="B", actor="test"
        )

    assert excinfo.value.code == "refund_exceeds_paid"
    assert excinfo.value.extra == {"paid": "100.00", "refunded": "60.00", "requested": "40.01"}
    assert refunds_total(payment.order_no) == Decimal("60.00")
    assert not Refund.objects.filter(reference="B").exists()


@pytest.mark.django_db
def test_unpaid_order_cannot_be_refunded(start_payment):
    payment = start_payment(amount="10.00")
    with pytest.raises(Conflict, match="exceed"):
        refund_request(
            out_trade_no=payment.out_trade_no, amount=Decimal("1.00"), reason="", reference="X", actor="test"
        )


@pytest.mark.django_db
def test_refund_request_is_idempotent_by_reference(paid_payment):
    payment = paid_payment(amount="50.00")
    first = refund_request(
        out_trade_no=payment.out_trade_no, amount=Decimal("20.00"), reason="r", reference="AS-1", actor="t"
    )
    again = refund_request(
        out_trade_no=payment.out_trade_no, amount=Decimal("20.00"), reason="r", reference="AS-1", actor="t"
    )

    assert again.pk == first.pk
    assert refunds_total(payment.order_no) == Decimal("20.00")
    assert len(topics("refund.requested")) == 1
    with pytest.raises(Conflict) as excinfo:
        refund_request(
            out_trade_no=payment.out_trade_no, amount=Decimal("25.00"), reason="r", reference="AS-1", actor="t"
        )
    assert excinfo.value.code == "refund_reference_reused"


@pytest.mark.django_db
def test_wechat_refund_goes_through_processing_to_succeeded(paid_payment):
    payment = paid_payment(provider="wechat", amount="80.00")
    refund = refund_request(
        out_trade_no=payment.out_trade_no, amount=Decimal("30.00"), reason="damaged", reference="AS-2", actor="t"
    )

    outbox_relay()  # the payments.refund_submit consumer calls the sandbox

    refund.refresh_from_db()
    assert refund.status == RefundStatus.PROCESSING
    assert refund.provider_refund_id
    Refund.objects.filter(pk=refund.pk).update(next_attempt_at=timezone.now())
    assert refunds_process_due(actor="system:beat") == 1
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert refunds_succeeded_total(payment.order_no) == Decimal("30.00")
    assert topics("refund.succeeded") == [
        {"order_no": payment.order_no, "refund_id": refund.pk, "reference": "AS-2", "amount": "30.00"}
    ]


@pytest.mark.django_db
def test_wechat_refund_callback_completes_the_refund(sandbox, paid_payment, post_notification):
    payment = paid_payment(provider="wechat", amount="80.00")
    refund = refund_request(
        out_trade_no=payment.out_trade_no, amount=Decimal("80.00"), reason="", reference="AS-3", actor="t"
    )
    refund_submit(refund_id=refund.pk, actor="t")
    gateway_refund = sandbox.refunds[refund.out_refund_no]
    headers, body = sandbox._wechat_envelope(
        "REFUND.SUCCESS",
        "refund",
        sandbox._wechat_refund_body(gateway_refund, sandbox.trades[payment.out_trade_no]),
        "退款成功",
    )

    assert post_notification("wechat", headers, body).status_code == 200
    assert post_notification("wechat", headers, body).status_code == 200

    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert len(topics("refund.succeeded")) == 1


@pytest.mark.django_db
def test_alipay_refund_succeeds_on_the_synchronous_answer(sandbox, paid_payment):
    payment = paid_payment(provider="alipay", amount="99.90")
    refund = refund_request(
        out_trade_no=payment.out_trade_no, amount=Decimal("99.90"), reason="", reference="cancel:AS-4", actor="t"
    )

    refund = refund_submit(refund_id=refund.pk, actor="t")
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.out_refund_no.isdigit()  # WeChat/Alipay accept no ":" in refund numbers
    assert list(sandbox.refunds) == [refund.out_refund_no]
    # A repeat (e.g. after a crash before commit) is deduplicated by the provider and by us.
    assert refund_submit(refund_id=refund.pk, actor="t").status == RefundStatus.SUCCEEDED
    assert len(topics("refund.succeeded")) == 1


@pytest.mark.django_db
def test_unreachable_provider_is_retried_with_backoff_then_fails(paid_payment, settings):
    payment = paid_payment(provider="wechat", amount="10.00")
    refund = refund_request(
        out_trade_no=payment.out_trade_no, amount=Decimal("10.00"), reason="", reference="AS-5", actor="t"
    )
    settings.WECHATPAY_GATEWAY_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    settings.REFUND_MAX_ATTEMPTS = 3

    refund = refund_submit(refund_id=refund.pk, actor="t")
    assert (refund.status, refund.attempts) == (RefundStatus.REQUESTED, 1)
    first_delay = refund.next_attempt_at - timezone.now()
    Refund.objects.filter(pk=refund.pk).update(next_attempt_at=timezone.now())
    refund = refund_submit(refund_id=refund.pk, actor="t")
    second_delay = refund.next_attempt_at - timezone.now()
    assert timedelta(seconds=20) < first_delay < second_delay <= timedelta(seconds=60)
    refund = refund_submit(refund_id=refund.pk, actor="t")

    assert (refund.status, refund.attempts) == (RefundStatus.FAILED, 3)
    assert "host='127.0.0.1', port=9)" in refund.last_error  # names the unreachable gateway
    assert refunds_total(payment.order_no) == Decimal("0.00")  # a failed refund no longer counts
    assert [e["reference"] for e in topics("refund.failed")] == ["AS-5"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_never_exceed_the_paid_amount(paid_payment):
    payment = paid_payment(amount="100.00")
    order_no = payment.order_no
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def ask(index: int) -> None:
        try:
            barrier.wait()
            # Half name the trade, half refund the order: both decide under the payment's lock.
            if index % 2:
                refund_request(
                    out_trade_no=payment.out_trade_no,
                    amount=Decimal("30.00"),
                    reason="",
                    reference=f"C-{index}",
                    actor="t",
                )
            else:
                refund_request_for_order(
                    order_no=order_no, amount=Decimal("30.00"), reason="", reference=f"C-{index}", actor="t"
                )
            outcomes.append("ok")
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["ok"] * 3 + ["refund_exceeds_paid"] * 3
    assert refunds_total(order_no) == Decimal("90.00")
