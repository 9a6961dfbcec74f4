"""Outbox consumers of audit, allocation and the WMS (imported by ``apps.orders.events``).

- ``order.paid`` -> audit (hold, or allocate into fulfillments).
- ``fulfillment.created`` -> a task sends it to the WMS once its merge hold is over; the
  ``orders.fulfillments_dispatch`` beat job sends whatever a lost task left behind.
- ``fulfillment.cancelled`` -> the WMS is told to stop it (if it may have it); its "already
  shipped" answer is final (no retry): staff get an alert.
All are safe to run twice.
"""

import logging

from django.conf import settings
from django.db import transaction

from apps.core.exceptions import Conflict
from apps.core.outbox import outbox_consumer
from apps.orders.services.audit import order_audit
from apps.orders.services.fulfillment import FulfillmentErrorCode, fulfillment_cancel_in_wms
from apps.orders.wms import get_wms_adapter

logger = logging.getLogger(__name__)


@outbox_consumer("orders.audit", topics=["order.paid"])
def audit_paid_order(event) -> None:
    try:
        order_audit(order_no=event.payload["order_no"], actor="system:audit")
    except Conflict as exc:
        if exc.code != FulfillmentErrorCode.NOT_AUDITABLE:
            raise
        # Already audited (or cancelled) by the time the event arrived: nothing to do.


@outbox_consumer("orders.wms_submit", topics=["fulfillment.created"])
def submit_new_fulfillment(event) -> None:
    if get_wms_adapter() is None:
        return
    number = event.payload["fulfillment_no"]
    hold_seconds = settings.MERGE_HOLD_MINUTES * 60 if settings.MERGE_ENABLED else 0

    def enqueue() -> None:
        from apps.orders.tasks import fulfillment_submit_task

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
