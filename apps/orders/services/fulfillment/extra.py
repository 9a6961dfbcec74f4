"""Extra parcels for exchanges and reissues, reserved under the after-sale's reference."""

from django.db import transaction
from django.utils.translation import gettext as _

from apps.core.exceptions import ApplicationError, Conflict
from apps.inventory.domain import Destination, StockRequest
from apps.inventory.services import stock_reserve
from apps.orders.models import (
    FS,
    TERMINAL_STATUSES,
    Fulfillment,
    OrderStatus,
)
from apps.orders.services.common import order_lock, order_record_change, order_shop_warehouse_ids
from apps.orders.services.fulfillment.common import FulfillmentErrorCode, fulfillment_create, fulfillment_publish


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
