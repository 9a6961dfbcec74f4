"""A parcel shipped: stock consumed, orders shipped once all their parcels are, and a parcel the
WMS shipped after its order was cancelled recorded as a fact."""

import logging
from collections import defaultdict

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.alerts import alert_raise
from apps.core.exceptions import ApplicationError, Conflict
from apps.core.models import Alert
from apps.inventory.domain import Allocation
from apps.inventory.services import stock_adjust, stock_consume
from apps.orders.models import (
    FS,
    Fulfillment,
    FulfillmentLine,
    Order,
    OrderStatus,
)
from apps.orders.services.common import order_apply_transition, order_record_change
from apps.orders.services.fulfillment.common import (
    FulfillmentErrorCode,
    fulfillment_lock_with_orders,
    fulfillment_publish,
)

logger = logging.getLogger(__name__)


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
        fulfillment, orders = fulfillment_lock_with_orders(fulfillment_no)
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
