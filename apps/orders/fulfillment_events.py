"""Outbox consumers of audit, allocation and the WMS (imported by ``apps.orders.events``).

- ``order.paid`` -> audit (hold, or allocate into fulfillments), many orders at once.
- ``fulfillment.created`` -> a task sends it to the WMS once its merge hold is over; the
  ``orders.fulfillments_dispatch`` beat job sends whatever a lost task left behind.
- ``fulfillment.cancelled`` -> the WMS is told to stop it (if it may have it); its "already
  shipped" answer is final (no retry): staff get an alert.
All are safe to run twice.
"""

import logging

from django.conf import settings
from django.db import transaction

from apps.core.outbox import outbox_consumer
from apps.orders.services.audit_batch import orders_audit_batch
from apps.orders.services.fulfillment import fulfillment_cancel_in_wms
from apps.orders.wms import get_wms_adapter

logger = logging.getLogger(__name__)


@outbox_consumer("orders.audit", topics=["order.paid"], batch=True)
def audit_paid_orders(events) -> dict[int, str]:
    """Audit the paid orders of ``events`` together; orders no longer paid (audited or
    cancelled before the event arrived) are skipped. An order the audit refuses is retried
    on its own event, the others are done."""
    result = orders_audit_batch(order_nos=[event.payload["order_no"] for event in events], actor="system:audit")
    return {
        event.pk: f"{error.code}: {error.message}"
        for event in events
        if (error := result.failed.get(event.payload["order_no"])) is not None
    }


@outbox_consumer("orders.wms_submit", topics=["fulfillment.created"], batch=True)
def submit_new_fulfillments(events) -> None:
    if get_wms_adapter() is None:
        return
    numbers = [event.payload["fulfillment_no"] for event in events]
    hold_seconds = settings.MERGE_HOLD_MINUTES * 60 if settings.MERGE_ENABLED else 0

    def enqueue() -> None:
        from apps.orders.tasks import fulfillment_submit_task

        for number in numbers:
            try:
                fulfillment_submit_task.apply_async(kwargs={"fulfillment_no": number}, countdown=hold_seconds)
            except Exception:
                logger.warning(
                    "could not queue fulfillment %s for the WMS; the dispatch job will send it", number, exc_info=True
                )

    transaction.on_commit(enqueue)


@outbox_consumer("orders.wms_cancel", topics=["fulfillment.cancelled"])
def cancel_in_wms(event) -> None:
    fulfillment_cancel_in_wms(fulfillment_no=event.payload["fulfillment_no"])
