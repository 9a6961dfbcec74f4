"""Orders' reactions to payments: mark paid (or refund money that came too late), record
refunds, and note amount mismatches for finance. Each handler is idempotent."""

from django.utils.dateparse import parse_datetime

from apps.core.models import OutboxEvent
from apps.core.outbox import outbox_consumer
from apps.orders import fulfillment_events  # noqa: F401 - registers audit and WMS consumers
from apps.orders.services import order_note_amount_mismatch, order_payment_received, order_record_refund

ACTOR = "system:payments"


@outbox_consumer("orders.payment_succeeded", topics=["payment.succeeded"])
def on_payment_succeeded(event: OutboxEvent) -> None:
    payload = event.payload
    order_payment_received(
        order_no=payload["order_no"],
        out_trade_no=payload["out_trade_no"],
        amount=payload["amount"],
        paid_at=parse_datetime(payload["paid_at"]),
        method=payload.get("provider", ""),
        actor=ACTOR,
    )


@outbox_consumer("orders.refund_succeeded", topics=["refund.succeeded"])
def on_refund_succeeded(event: OutboxEvent) -> None:
    payload = event.payload
    order_record_refund(
        order_no=payload["order_no"], amount=payload["amount"], actor=ACTOR, refund_id=str(payload["refund_id"])
    )


@outbox_consumer("orders.payment_amount_mismatch", topics=["payment.amount_mismatch"])
def on_payment_amount_mismatch(event: OutboxEvent) -> None:
    payload = event.payload
    order_note_amount_mismatch(
        order_no=payload["order_no"],
        payment_id=str(payload["payment_id"]),
        amount=str(payload["amount"]),
        expected=str(payload["expected"]),
        actor=ACTOR,
    )
