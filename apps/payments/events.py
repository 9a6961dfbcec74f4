"""Outbox consumers of the payments app.

- ``order.payment_timeout`` / ``order.cancelled`` (published by orders; topic strings, no
  import): close the order's open payments.
- ``payment.closed`` (ours): close the trade at the provider; a buyer who already paid is
  recorded instead.
- ``refund.requested`` (ours): the first attempt at the provider's refund call. Failures are
  kept on the refund row and retried by the ``payments.refunds_process`` beat job.
"""

from apps.core.outbox import outbox_consumer
from apps.payments import services


@outbox_consumer("payments.close_for_order", topics=["order.payment_timeout", "order.cancelled"])
def close_payments_of_order(event) -> None:
    services.payment_close_for_order(order_no=event.payload["order_no"])


@outbox_consumer("payments.provider_close", topics=["payment.closed"])
def close_at_provider(event) -> None:
    services.payment_provider_close(payment_id=event.payload["payment_id"], actor="system:outbox")


@outbox_consumer("payments.refund_submit", topics=["refund.requested"])
def submit_refund(event) -> None:
    services.refund_submit(refund_id=event.payload["refund_id"], actor="system:outbox")
