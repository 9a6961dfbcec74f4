"""Fulfillments (出库单) after allocation: sending them to the WMS, shipping, extra parcels
for exchanges and reissues, and the delivery updates that follow.

Lock order, everywhere in orders: the order rows first (by order number), then the
fulfillment rows (by id). The WMS is called outside any transaction that holds a business
lock: ``fulfillment_submit_to_wms`` first *claims* the fulfillment (``sent_to_wms_at`` set
while it is still ``pending``, which takes it out of the merge job's reach), commits, calls
the WMS, then moves it to ``sent_to_wms``. Running it twice is harmless: the WMS dedups by
fulfillment number.
"""

import logging
import time
from collections import defaultdict
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.alerts import alert_raise
from apps.core.exceptions import ApplicationError, Conflict, NotFound
from apps.core.models import Alert
from apps.core.numbers import next_number
from apps.core.outbox import outbox_publish
from apps.inventory.domain import Allocation, Destination, StockRequest
from apps.inventory.services import stock_adjust, stock_consume, stock_reserve
from apps.orders.models import (
    FS,
    TERMINAL_STATUSES,
    Fulfillment,
    FulfillmentLine,
    Order,
    OrderLine,
    OrderStatus,
    OrderStatusLog,
)
from apps.orders.services.common import (
    order_apply_transition,
    order_cache_invalidate_on_commit,
    order_lock,
    order_record_change,
)
from apps.orders.services.create import order_shop_warehouse_ids
from apps.orders.wms import WmsAlreadyShipped, WmsError, WmsFulfillment, WmsLine, get_wms_adapter

logger = logging.getLogger(__name__)


class FulfillmentErrorCode(StrEnum):
    FULFILLMENT_NOT_FOUND = "fulfillment_not_found"
    FULFILLMENT_CANCELLED = "fulfillment_cancelled"
    ALREADY_SHIPPED = "already_shipped"
    TRACKING_REQUIRED = "tracking_required"
    FULFILLMENT_CHANGED = "fulfillment_changed"
    INVALID_KIND = "invalid_kind"
    INVALID_ITEMS = "invalid_items"
    NO_SINGLE_WAREHOUSE = "no_single_warehouse"
    INVALID_DELIVERY_STATUS = "invalid_delivery_status"
    RESERVATION_MISMATCH = "reservation_mismatch"
    NOT_AUDITABLE = "not_auditable"


# --- shared helpers ------------------------------------------------------------------------


def fulfillment_order_nos(fulfillment: Fulfillment) -> list[str]:
    return sorted(
        set(
            FulfillmentLine.objects.filter(fulfillment=fulfillment).values_list(
                "order_line__order__order_no", flat=True
            )
        )
    )


def fulfillment_publish(fulfillment: Fulfillment, *, order_nos: list[str], extra: dict | None = None) -> None:
    """Publish ``fulfillment.<status>`` with the payload of docs/ARCHITECTURE.md, and drop
    the cached details of its orders (they list their packages) when the change commits."""
    outbox_publish(
        topic=f"fulfillment.{'created' if fulfillment.status == FS.PENDING else fulfillment.status}",
        aggregate_type="fulfillment",
        aggregate_id=fulfillment.fulfillment_no,
        payload={
            "fulfillment_no": fulfillment.fulfillment_no,
            "order_nos": order_nos,
            "warehouse_id": fulfillment.warehouse_id,
            "status": fulfillment.status,
            "carrier": fulfillment.carrier,
            "tracking_no": fulfillment.tracking_no,
            "kind": fulfillment.kind,
            "source_reference": fulfillment.source_reference,
            **(extra or {}),
        },
    )
    order_cache_invalidate_on_commit(order_nos)


def fulfillment_lock(*, fulfillment_no: str) -> Fulfillment:
    fulfillment = Fulfillment.objects.select_for_update().filter(fulfillment_no=fulfillment_no).first()
    if fulfillment is None:
        raise NotFound(
            FulfillmentErrorCode.FULFILLMENT_NOT_FOUND,
            _("Fulfillment %(no)s does not exist.") % {"no": fulfillment_no},
        )
    return fulfillment


def fulfillment_create(
    *,
    warehouse_id: int,
    lines: list[tuple[OrderLine, int, int]],
    kind: str = Fulfillment.Kind.NORMAL,
    source_reference: str = "",
) -> Fulfillment:
    """A pending fulfillment with ``lines`` as (order line, sku id, quantity); caller publishes."""
    fulfillment = Fulfillment.objects.create(
        fulfillment_no=f"F{next_number()}", warehouse_id=warehouse_id, kind=kind, source_reference=source_reference
    )
    FulfillmentLine.objects.bulk_create(
        [
            FulfillmentLine(fulfillment=fulfillment, order_line=line, sku_id=sku_id, quantity=quantity)
            for line, sku_id, quantity in lines
        ]
    )
    return fulfillment


def _lock_orders(order_nos: list[str]) -> dict[str, Order]:
    return {order_no: order_lock(order_no=order_no) for order_no in sorted(order_nos)}


def _locked_fulfillment_with_orders(fulfillment_no: str) -> tuple[Fulfillment, dict[str, Order]]:
    """Lock the fulfillment's orders, then the fulfillment; refuse if a merge moved lines meanwhile."""
    fulfillment = Fulfillment.objects.filter(fulfillment_no=fulfillment_no).first()
    if fulfillment is None:
        raise NotFound(
            FulfillmentErrorCode.FULFILLMENT_NOT_FOUND,
            _("Fulfillment %(no)s does not exist.") % {"no": fulfillment_no},
        )
    order_nos = fulfillment_order_nos(fulfillment)
    orders = _lock_orders(order_nos)
    fulfillment = fulfillment_lock(fulfillment_no=fulfillment_no)
    if fulfillment_order_nos(fulfillment) != order_nos:
        raise Conflict(
            FulfillmentErrorCode.FULFILLMENT_CHANGED,
            _("Fulfillment %(no)s changed while it was being updated; try again.") % {"no": fulfillment_no},
        )
    return fulfillment, orders


# --- shipping ------------------------------------------------------------------------------


def fulfillment_mark_shipped(*, fulfillment_no: str, carrier: str, tracking_no: str, actor: str) -> Fulfillment:
    """Record a parcel leaving the warehouse: consume its stock, ship the orders whose every
    fulfillment has left, publish ``fulfillment.shipped``.

    Idempotent: the same carrier and tracking number again changes nothing; a different
    tracking number for a shipped fulfillment is a 409. Exchange and reissue fulfillments
    consume the after-sale's reservation and leave the order's status alone. A parcel the
    WMS had and ships after we cancelled it is a fact, not an error: it is recorded on the
    cancelled fulfillment (``_record_shipped_after_cancel``).
    """
    carrier, tracking_no = (carrier or "").strip(), (tracking_no or "").strip()
    if not carrier or not tracking_no:
        raise ApplicationError(
            FulfillmentErrorCode.TRACKING_REQUIRED, _("A carrier and a tracking number are required to ship.")
        )
    with transaction.atomic():
        fulfillment, orders = _locked_fulfillment_with_orders(fulfillment_no)
        # Shipped, or cancelled and then shipped by the WMS anyway (recorded below).
        if fulfillment.status == FS.SHIPPED or (fulfillment.status == FS.CANCELLED and fulfillment.shipped_at):
            if (fulfillment.carrier, fulfillment.tracking_no) == (carrier, tracking_no):
                return fulfillment
            raise Conflict(
                FulfillmentErrorCode.ALREADY_SHIPPED,
                _("Fulfillment %(no)s already shipped with %(carrier)s %(tracking)s.")
                % {"no": fulfillment_no, "carrier": fulfillment.carrier, "tracking": fulfillment.tracking_no},
            )
        if fulfillment.status == FS.CANCELLED and not fulfillment.merged_into_id and fulfillment.sent_to_wms_at:
            _record_shipped_after_cancel(
                fulfillment, orders=orders, carrier=carrier, tracking_no=tracking_no, actor=actor
            )
            return fulfillment
        if fulfillment.status == FS.CANCELLED:
            raise Conflict(
                FulfillmentErrorCode.FULFILLMENT_CANCELLED,
                _("Fulfillment %(no)s was cancelled and cannot ship.") % {"no": fulfillment_no},
                {"merged_into": fulfillment.merged_into.fulfillment_no if fulfillment.merged_into_id else None},
            )
        normal = fulfillment.kind == Fulfillment.Kind.NORMAL
        if normal:
            for order in orders.values():
                if order.status != OrderStatus.PENDING_SHIPMENT:
                    raise Conflict(
                        FulfillmentErrorCode.FULFILLMENT_CANCELLED,
                        _("Order %(order_no)s is %(status)s; its parcel must not ship.")
                        % {"order_no": order.order_no, "status": order.get_status_display()},
                    )
        now = timezone.now()
        fulfillment.ship()
        fulfillment.carrier, fulfillment.tracking_no, fulfillment.shipped_at = carrier, tracking_no, now
        fulfillment.save(update_fields=["status", "carrier", "tracking_no", "shipped_at"])
        _consume_stock(fulfillment, actor=actor)
        if normal:
            for order in orders.values():
                _ship_order_if_complete(order, fulfillment, actor=actor, now=now)
        fulfillment_publish(fulfillment, order_nos=sorted(orders))
    return fulfillment


def _consume_stock(fulfillment: Fulfillment, *, actor: str) -> None:
    by_reference: dict[str, list[Allocation]] = defaultdict(list)
    for line in FulfillmentLine.objects.filter(fulfillment=fulfillment).select_related("order_line__order"):
        reference = fulfillment.source_reference or line.order_line.order.order_no
        by_reference[reference].append(
            Allocation(
                line_reference=str(line.order_line_id),
                sku_id=line.sku_id,
                warehouse_id=fulfillment.warehouse_id,
                quantity=line.quantity,
            )
        )
    # Inventory dedups a consumption by its consume_reference alone, so a merged parcel
    # (several orders, several references) consumes each order's part under its own.
    for reference, allocations in sorted(by_reference.items()):
        consume_reference = fulfillment.fulfillment_no
        if len(by_reference) > 1:
            consume_reference = f"{fulfillment.fulfillment_no}:{reference}"
        stock_consume(reference=reference, allocations=allocations, operator=actor, consume_reference=consume_reference)


def _record_shipped_after_cancel(
    fulfillment: Fulfillment, *, orders: dict[str, Order], carrier: str, tracking_no: str, actor: str
) -> None:
    """The WMS shipped a parcel we had cancelled (and whose stock we had released): the goods
    left all the same. The fulfillment stays cancelled but records the shipment, on_hand goes
    down by an adjustment (the reservation is gone), the orders keep their status and staff
    get an error alert to intercept the parcel or recover the money."""
    fulfillment.carrier, fulfillment.tracking_no, fulfillment.shipped_at = carrier, tracking_no, timezone.now()
    fulfillment.save(update_fields=["carrier", "tracking_no", "shipped_at"])
    order_nos = sorted(orders)
    quantities: dict[int, int] = defaultdict(int)
    for sku_id, quantity in FulfillmentLine.objects.filter(fulfillment=fulfillment).values_list("sku_id", "quantity"):
        quantities[sku_id] += quantity
    note = _("Shipped after cancellation of %(orders)s") % {"orders": ", ".join(order_nos)}
    not_adjusted = []
    for sku_id, quantity in sorted(quantities.items()):
        try:
            stock_adjust(
                sku_id=sku_id,
                warehouse_id=fulfillment.warehouse_id,
                reference=fulfillment.fulfillment_no,
                delta=-quantity,
                operator=actor,
                note=note,
            )
        except Conflict as exc:
            # The released units were promised to other orders meanwhile: staff must recount.
            logger.error("fulfillment %s shipped after cancel, stock not adjusted: %s", fulfillment, exc.message)
            not_adjusted.append({"sku_id": sku_id, "quantity": quantity})
    remark = _("Package %(no)s shipped after the order was cancelled: %(carrier)s %(tracking)s") % {
        "no": fulfillment.fulfillment_no,
        "carrier": carrier,
        "tracking": tracking_no,
    }
    for order in orders.values():
        order_record_change(order=order, actor=actor, remark=remark, update_fields=())
    fulfillment_alert_shipped_after_cancel(fulfillment, order_nos=order_nos, not_adjusted=not_adjusted)


def fulfillment_alert_shipped_after_cancel(
    fulfillment: Fulfillment, *, order_nos: list[str], not_adjusted: list[dict] | None = None
) -> None:
    """One error alert per fulfillment: a cancelled (and refunded) order's parcel left."""
    logger.error("fulfillment %s of cancelled orders %s left the warehouse", fulfillment, order_nos)
    details = {
        "fulfillment_no": fulfillment.fulfillment_no,
        "order_nos": order_nos,
        "carrier": fulfillment.carrier,
        "tracking_no": fulfillment.tracking_no,
    }
    if not_adjusted:
        details["stock_not_adjusted"] = not_adjusted
    alert_raise(
        kind="fulfillment_shipped_after_cancel",
        dedup_key=f"fulfillment-shipped-after-cancel:{fulfillment.fulfillment_no}",
        severity=Alert.Severity.ERROR,
        message=_(
            "Package %(no)s of cancelled order %(orders)s left the warehouse after the order was cancelled and "
            "refunded: intercept the parcel or recover the money."
        )
        % {"no": fulfillment.fulfillment_no, "orders": ", ".join(order_nos)},
        details=details,
    )


def _ship_order_if_complete(order: Order, fulfillment: Fulfillment, *, actor: str, now) -> None:
    waiting = (
        Fulfillment.objects.filter(kind=Fulfillment.Kind.NORMAL, lines__order_line__order=order)
        .exclude(status__in=[FS.SHIPPED, FS.CANCELLED])
        .distinct()
        .count()
    )
    remark = _("Fulfillment %(no)s shipped: %(carrier)s %(tracking)s") % {
        "no": fulfillment.fulfillment_no,
        "carrier": fulfillment.carrier,
        "tracking": fulfillment.tracking_no,
    }
    if waiting:
        order_record_change(
            order=order,
            actor=actor,
            remark=remark + _(" (%(count)d more to ship)") % {"count": waiting},
            update_fields=(),
        )
        return
    order.shipped_at = now
    order_apply_transition(order=order, transition="ship", actor=actor, remark=remark, update_fields=("shipped_at",))


# --- exchanges and reissues -----------------------------------------------------------------


def fulfillment_create_extra(
    *,
    order_no: str,
    kind: str,
    source_reference: str,
    items: list[tuple[int, int, int]],
    actor: str,
    warehouse_id: int | None = None,
) -> Fulfillment:
    """An extra parcel for an order (exchange or reissue), its stock reserved under
    ``source_reference`` (the after-sale number) in one warehouse.

    ``items`` are (order_line_id, sku_id, quantity); the SKU may differ from the line's
    (an exchange for another size). Idempotent by (kind, source_reference). It is sent to
    the WMS like any other fulfillment; when it ships, its stock is consumed under
    ``source_reference`` and the order's status does not change.
    """
    if kind not in (Fulfillment.Kind.EXCHANGE, Fulfillment.Kind.REISSUE):
        raise ApplicationError(
            FulfillmentErrorCode.INVALID_KIND, _("An extra fulfillment is an exchange or a reissue."), {"kind": kind}
        )
    if not source_reference or not items or any(quantity <= 0 for _line, _sku, quantity in items):
        raise ApplicationError(
            FulfillmentErrorCode.INVALID_ITEMS,
            _("An extra fulfillment needs a source reference and items with positive quantities."),
        )
    with transaction.atomic():
        order = order_lock(order_no=order_no)
        existing = (
            Fulfillment.objects.filter(kind=kind, source_reference=source_reference)
            .exclude(status=FS.CANCELLED)
            .first()
        )
        if existing is not None:
            return existing
        if order.status in TERMINAL_STATUSES - {OrderStatus.COMPLETED} or order.status == OrderStatus.PENDING_PAYMENT:
            raise Conflict(
                FulfillmentErrorCode.INVALID_ITEMS,
                _("Order %(order_no)s is %(status)s: nothing to exchange or reissue.")
                % {"order_no": order_no, "status": order.get_status_display()},
            )
        lines = {line.pk: line for line in order.lines.all()}
        if any(line_id not in lines for line_id, _sku, _quantity in items):
            raise ApplicationError(
                FulfillmentErrorCode.INVALID_ITEMS,
                _("Every item must refer to a line of order %(order_no)s.") % {"order_no": order_no},
            )
        allocations = stock_reserve(
            reference=source_reference,
            requests=[
                StockRequest(sku_id=sku, quantity=quantity, line_reference=str(line)) for line, sku, quantity in items
            ],
            destination=Destination(province=order.province, city=order.city),
            warehouse_ids=[warehouse_id] if warehouse_id else (order_shop_warehouse_ids(order) or None),
            operator=actor,
        )
        warehouses = {allocation.warehouse_id for allocation in allocations}
        if len(warehouses) != 1:
            raise Conflict(
                FulfillmentErrorCode.NO_SINGLE_WAREHOUSE,
                _("No single warehouse can ship all the items of %(reference)s.") % {"reference": source_reference},
            )
        fulfillment = fulfillment_create(
            warehouse_id=warehouses.pop(),
            lines=[(lines[line], sku, quantity) for line, sku, quantity in items],
            kind=kind,
            source_reference=source_reference,
        )
        order_record_change(
            order=order,
            actor=actor,
            remark=_("%(kind)s fulfillment %(no)s for %(reference)s")
            % {"kind": fulfillment.get_kind_display(), "no": fulfillment.fulfillment_no, "reference": source_reference},
            update_fields=(),
        )
        fulfillment_publish(fulfillment, order_nos=[order_no])
    return fulfillment


# --- the WMS -----------------------------------------------------------------------------


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


# --- delivery ------------------------------------------------------------------------------

DELIVERY_STATUSES = (OrderStatus.DELIVERING, OrderStatus.DELIVERED, OrderStatus.DELIVERY_FAILED)
# The transitions that bring an order from its current status to a reported one. A carrier
# may skip the "delivering" scan; a re-delivery goes delivery_failed -> delivering.
_DELIVERY_PATHS = {
    (OrderStatus.SHIPPED, OrderStatus.DELIVERING): ("start_delivery",),
    (OrderStatus.DELIVERY_FAILED, OrderStatus.DELIVERING): ("start_delivery",),
    (OrderStatus.SHIPPED, OrderStatus.DELIVERED): ("start_delivery", "deliver"),
    (OrderStatus.DELIVERING, OrderStatus.DELIVERED): ("deliver",),
    (OrderStatus.DELIVERY_FAILED, OrderStatus.DELIVERED): ("start_delivery", "deliver"),
    (OrderStatus.SHIPPED, OrderStatus.DELIVERY_FAILED): ("start_delivery", "fail_delivery"),
    (OrderStatus.DELIVERING, OrderStatus.DELIVERY_FAILED): ("fail_delivery",),
}
# Reports that arrive after a later one (a "delivering" scan after "delivered") are ignored.
_STALE = {
    OrderStatus.DELIVERED: {OrderStatus.DELIVERING, OrderStatus.DELIVERY_FAILED},
    OrderStatus.COMPLETED: set(DELIVERY_STATUSES),
}


def _is_stale(order: Order, status: str) -> bool:
    if status in _STALE.get(order.status, ()):
        return True
    if order.status != OrderStatus.REFUNDED:
        return False
    # Refunded in full during its delivery: a repeated scan of a delivery step it passed.
    passed = set(
        OrderStatusLog.objects.filter(order=order, to_status__in=DELIVERY_STATUSES).values_list("to_status", flat=True)
    )
    return status in passed or (status == OrderStatus.DELIVERING and bool(passed))


def _refund_if_refunded_in_full(order: Order, *, actor: str) -> bool:
    """Move a delivered or failed-delivery order whose money has all gone back (refunded
    while it was in delivery, where DESIGN has no refunding edge) on to ``refunded``."""
    if not order.refunded_in_full:
        return False
    order_apply_transition(
        order=order,
        transition="start_refund",
        actor=actor,
        remark=_("Refunded in full while in delivery (%(amount)s).") % {"amount": f"{order.refunded_amount:.2f}"},
    )
    order_apply_transition(order=order, transition="finish_refund", actor=actor, remark=_("Refunded in full."))
    return True


def order_delivery_update(*, order_no: str, status: str, actor: str, remark: str = "") -> Order:
    """Apply a carrier's report (delivering / delivered / delivery_failed) to a shipped order.

    A repeated or stale report changes nothing; any other report the order cannot take
    from its current status is a 409. An order refunded in full while it was being
    delivered goes on from delivered (or delivery_failed) to ``refunded`` in the same
    transaction.
    """
    if status not in DELIVERY_STATUSES:
        raise ApplicationError(
            FulfillmentErrorCode.INVALID_DELIVERY_STATUS,
            _("Delivery status must be one of: %(statuses)s.") % {"statuses": ", ".join(DELIVERY_STATUSES)},
            {"status": status},
        )
    with transaction.atomic():
        order = order_lock(order_no=order_no)
        if order.status == status or _is_stale(order, status):
            return order
        path = _DELIVERY_PATHS.get((order.status, status))
        if path is None:
            raise Conflict(
                FulfillmentErrorCode.INVALID_DELIVERY_STATUS,
                _("Order %(order_no)s is %(status)s and cannot become %(target)s.")
                % {"order_no": order_no, "status": order.get_status_display(), "target": OrderStatus(status).label},
                {"status": order.status},
            )
        for transition in path:
            update_fields: tuple[str, ...] = ()
            if transition == "deliver":
                order.delivered_at = timezone.now()
                update_fields = ("delivered_at",)
            order_apply_transition(
                order=order, transition=transition, actor=actor, remark=remark, update_fields=update_fields
            )
        if order.status in (OrderStatus.DELIVERED, OrderStatus.DELIVERY_FAILED):
            _refund_if_refunded_in_full(order, actor=actor)
    return order


COMPLETE_RUN_SECONDS = 600


def orders_complete_delivered(*, actor: str, batch_size: int | None = None) -> list[str]:
    """Complete orders delivered more than ``ORDER_AUTO_COMPLETE_DAYS`` ago (beat job).

    Works through every due order in batches of ``ORDER_AUTO_COMPLETE_BATCH_SIZE``, oldest
    delivery first, paging by (delivered_at, id) so an order that cannot complete is not
    read again; a run stops starting batches after ``COMPLETE_RUN_SECONDS`` and the next
    run goes on. Each order is re-checked under its lock, so two runs at once complete it
    once. An order refunded in full is not completed but moved on to ``refunded``.
    """
    batch_size = batch_size or settings.ORDER_AUTO_COMPLETE_BATCH_SIZE
    cutoff = timezone.now() - timedelta(days=settings.ORDER_AUTO_COMPLETE_DAYS)
    stop_at = time.monotonic() + COMPLETE_RUN_SECONDS
    due = Order.objects.filter(status=OrderStatus.DELIVERED, delivered_at__lte=cutoff).order_by("delivered_at", "id")
    completed: list[str] = []
    after = None
    while time.monotonic() < stop_at:
        page = due
        if after is not None:
            page = page.filter(Q(delivered_at__gt=after[0]) | Q(delivered_at=after[0], id__gt=after[1]))
        batch = list(page.values_list("delivered_at", "id", "order_no")[:batch_size])
        if not batch:
            break
        for _delivered_at, _pk, order_no in batch:
            if _complete_if_due(order_no=order_no, cutoff=cutoff, actor=actor):
                completed.append(order_no)
        after = batch[-1][:2]
    return completed


def _complete_if_due(*, order_no: str, cutoff: datetime, actor: str) -> bool:
    with transaction.atomic():
        order = order_lock(order_no=order_no)
        if order.status != OrderStatus.DELIVERED or order.delivered_at is None or order.delivered_at > cutoff:
            return False
        if _refund_if_refunded_in_full(order, actor=actor):
            return False
        order.completed_at = timezone.now()
        order_apply_transition(
            order=order,
            transition="complete",
            actor=actor,
            remark=_("Completed automatically %(days)d days after delivery.")
            % {"days": settings.ORDER_AUTO_COMPLETE_DAYS},
            update_fields=("completed_at",),
        )
        return True
