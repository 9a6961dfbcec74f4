"""Outbox consumers of the payments app.

- ``order.payment_timeout`` / ``order.cancelled`` (published by orders; topic strings, no
  import): close the order's open payments.
- ``payment.closed`` (ours): close the trade at the provider; a buyer who already paid is
  recorded instead.
- ``refund.requested`` (ours): the first attempt at the provider's refund call. Failures are
  kept on the refund row and retried by the ``payments.refunds_process`` beat job.

A misconfigured provider fails the delivery at once (``DeliveryFailed``: one alert per
consumer) rather than retrying what only a settings change can fix.
"""

from apps.core.outbox import DeliveryFailed, outbox_consumer
from apps.payments import services
from apps.payments.providers.config import ProviderMisconfigured


@outbox_consumer("payments.close_for_order", topics=["order.payment_timeout", "order.cancelled"])
def close_payments_of_order(event) -> None:
    services.payment_close_for_order(order_no=event.payload["order_no"])


@outbox_consumer("payments.provider_close", topics=["payment.closed"])
def close_at_provider(event) -> None:
    try:
        services.payment_provider_close(payment_id=event.payload["payment_id"], actor="system:outbox")
    except ProviderMisconfigured as exc:
        # The trade still expires at the provider (time_expire); retrying cannot fix settings.
        raise DeliveryFailed(str(exc)) from exc


@outbox_consumer("payments.refund_submit", topics=["refund.requested"])
def submit_refund(event) -> None:
    try:
        services.refund_submit(refund_id=event.payload["refund_id"], actor="system:outbox")
    except ProviderMisconfigured as exc:
        # The refund stays requested: the refunds_process beat job sends it once the provider is fixed.
        raise DeliveryFailed(str(exc)) from exc
