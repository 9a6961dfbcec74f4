"""Sending fulfillments to the WMS (claim, call outside the transaction, record) and
cancelling them there."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.orders.models import (
    FS,
    Fulfillment,
    FulfillmentLine,
)
from apps.orders.services.fulfillment.common import fulfillment_lock, fulfillment_order_nos, fulfillment_publish
from apps.orders.services.fulfillment.shipping import fulfillment_alert_shipped_after_cancel, fulfillment_mark_shipped
from apps.orders.wms import WmsAlreadyShipped, WmsError, WmsFulfillment, WmsLine, get_wms_adapter

logger = logging.getLogger(__name__)


def fulfillment_is_due(fulfillment: Fulfillment) -> bool:
    """Whether a new fulfillment has waited out ``MERGE_HOLD_MINUTES`` and may go to the WMS."""
    hold = settings.MERGE_HOLD_MINUTES if settings.MERGE_ENABLED else 0
    return fulfillment.created_at <= timezone.now() - timedelta(minutes=hold)


def _wms_message(fulfillment: Fulfillment) -> WmsFulfillment:
    lines = list(FulfillmentLine.objects.filter(fulfillment=fulfillment).select_related("order_line__order", "sku"))
    order = lines[0].order_line.order
    return WmsFulfillment(
        fulfillment_no=fulfillment.fulfillment_no,
        warehouse_code=fulfillment.warehouse.code,
        kind=fulfillment.kind,
        order_nos=sorted({line.order_line.order.order_no for line in lines}),
        recipient={
            "name": order.recipient_name,
            "phone": order.recipient_phone,
            "province": order.province,
            "city": order.city,
            "district": order.district,
            "address": order.address,
        },
        lines=[
            WmsLine(order_no=line.order_line.order.order_no, sku_code=line.sku.code, quantity=line.quantity)
            for line in lines
        ],
    )


def fulfillment_submit_to_wms(*, fulfillment_no: str, actor: str) -> Fulfillment | None:
    """Hand a pending fulfillment to the WMS and mark it ``sent_to_wms``.

    Returns None when no WMS is configured. Raises ``WmsUnavailable`` (retry later) or
    ``WmsRejected``; the fulfillment stays pending and claimed, so a later run resends it.
    A fulfillment cancelled while the WMS was being called is cancelled there too.
    """
    adapter = get_wms_adapter()
    if adapter is None:
        return None
    with transaction.atomic():
        fulfillment = fulfillment_lock(fulfillment_no=fulfillment_no)
        if fulfillment.status != FS.PENDING:
            return fulfillment
        if fulfillment.sent_to_wms_at is None:
            fulfillment.sent_to_wms_at = timezone.now()
            fulfillment.save(update_fields=["sent_to_wms_at"])
        message = _wms_message(fulfillment)
    reference = adapter.submit(message)
    with transaction.atomic():
        fulfillment = fulfillment_lock(fulfillment_no=fulfillment_no)
        if fulfillment.status == FS.PENDING:
            fulfillment.send_to_wms()
            fulfillment.wms_reference = reference[:64]
            fulfillment.save(update_fields=["status", "wms_reference"])
            fulfillment_publish(fulfillment, order_nos=message.order_nos)
            logger.info("%s: fulfillment %s sent to the WMS as %s", actor, fulfillment_no, reference)
    if fulfillment.status == FS.CANCELLED:
        _cancel_at_wms(adapter, fulfillment)
    return fulfillment


def fulfillments_dispatch_due(*, actor: str, limit: int = 200) -> int:
    """Send every due pending fulfillment to the WMS (beat job; the backstop for lost tasks).

    Returns how many the WMS accepted. A WMS error is logged and the fulfillment waits for
    the next run.
    """
    if get_wms_adapter() is None:
        return 0
    hold = settings.MERGE_HOLD_MINUTES if settings.MERGE_ENABLED else 0
    numbers = list(
        Fulfillment.objects.filter(
            status=FS.PENDING, merged_into=None, created_at__lte=timezone.now() - timedelta(minutes=hold)
        )
        .order_by("id")
        .values_list("fulfillment_no", flat=True)[:limit]
    )
    sent = 0
    for number in numbers:
        try:
            fulfillment = fulfillment_submit_to_wms(fulfillment_no=number, actor=actor)
        except (WmsError, ApplicationError) as exc:
            logger.warning("fulfillment %s not sent to the WMS: %s", number, exc)
            continue
        sent += bool(fulfillment and fulfillment.status == FS.SENT_TO_WMS)
    return sent


def fulfillment_cancel_in_wms(*, fulfillment_no: str) -> bool:
    """Tell the WMS to stop a cancelled fulfillment it may have (claimed or sent). Idempotent."""
    adapter = get_wms_adapter()
    fulfillment = Fulfillment.objects.filter(fulfillment_no=fulfillment_no).first()
    if adapter is None or fulfillment is None or fulfillment.status != FS.CANCELLED:
        return False
    if fulfillment.sent_to_wms_at is None:
        return False
    return _cancel_at_wms(adapter, fulfillment)


def _cancel_at_wms(adapter, fulfillment: Fulfillment) -> bool:
    """Ask the WMS to stop ``fulfillment``. Its "already shipped" answer is final: the
    shipment is recorded when the WMS named it, staff are alerted, and False is returned."""
    try:
        adapter.cancel(fulfillment.fulfillment_no)
    except WmsAlreadyShipped as exc:
        if exc.carrier and exc.tracking_no:
            try:
                fulfillment = fulfillment_mark_shipped(
                    fulfillment_no=fulfillment.fulfillment_no,
                    carrier=exc.carrier,
                    tracking_no=exc.tracking_no,
                    actor="system:wms",
                )
            except ApplicationError as error:
                logger.error("fulfillment %s: shipment in the WMS refusal not recorded: %s", fulfillment, error)
        fulfillment_alert_shipped_after_cancel(fulfillment, order_nos=fulfillment_order_nos(fulfillment))
        return False
    return True
