"""Fulfillment error codes and what every fulfillment service shares: locking, creating and
publishing a fulfillment."""

from enum import StrEnum

from django.utils.translation import gettext as _

from apps.core.exceptions import Conflict, NotFound
from apps.core.numbers import next_number
from apps.core.outbox import outbox_publish
from apps.orders.models import (
    FS,
    Fulfillment,
    FulfillmentLine,
    Order,
    OrderLine,
)
from apps.orders.services.common import order_cache_invalidate_on_commit, order_lock


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


def fulfillment_event_payload(fulfillment: Fulfillment, *, order_nos: list[str]) -> dict:
    """The payload of every ``fulfillment.*`` event (docs/ARCHITECTURE.md)."""
    return {
        "fulfillment_no": fulfillment.fulfillment_no,
        "order_nos": order_nos,
        "warehouse_id": fulfillment.warehouse_id,
        "status": fulfillment.status,
        "carrier": fulfillment.carrier,
        "tracking_no": fulfillment.tracking_no,
        "kind": fulfillment.kind,
        "source_reference": fulfillment.source_reference,
    }


def fulfillment_publish(fulfillment: Fulfillment, *, order_nos: list[str], extra: dict | None = None) -> None:
    """Publish ``fulfillment.<status>`` with the payload of docs/ARCHITECTURE.md, and drop
    the cached details of its orders (they list their packages) when the change commits."""
    outbox_publish(
        topic=f"fulfillment.{'created' if fulfillment.status == FS.PENDING else fulfillment.status}",
        aggregate_type="fulfillment",
        aggregate_id=fulfillment.fulfillment_no,
        payload={**fulfillment_event_payload(fulfillment, order_nos=order_nos), **(extra or {})},
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


def fulfillment_lock_with_orders(fulfillment_no: str) -> tuple[Fulfillment, dict[str, Order]]:
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
