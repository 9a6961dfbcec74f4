"""Allocation: turn an audited order's stock reservations into fulfillments (拆单 by warehouse).

The reservation made when the order was created already chose the warehouses (inventory's
sourcing: one warehouse that ships everything, else the fewest packages), so allocation
follows it: one fulfillment per warehouse, each line's reserved quantity in the package of
the warehouse that holds it. An order with no active reservation (its stock was released)
reserves again; if the stock is gone, it goes on hold with reason ``out_of_stock``.

The warehouses may no longer suit the order by then: one was deactivated or stopped taking
online orders, or the address moved to another region. Then sourcing runs again and the
reservations move to its plan (``stock_resource``: all or nothing, ledgered). If no plan
covers the lines, an order whose warehouse no longer ships goes on hold as out of stock;
one that only moved region keeps the warehouses it has.
"""

from collections import defaultdict

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.exceptions import Conflict
from apps.inventory.domain import Allocation, Destination, InsufficientStock, StockRequest
from apps.inventory.services import stock_resource, warehouses_to_leave
from apps.orders.models import Order, OrderLine, OrderStatus
from apps.orders.services.common import order_apply_transition, order_lock, order_shop_warehouse_ids
from apps.orders.services.fulfillment import FulfillmentErrorCode, fulfillment_create, fulfillment_publish
from apps.orders.services.shortage import order_hold_out_of_stock, order_reserve_stock


def line_id_of(line_reference: str) -> int | None:
    """The order line id in a reservation's line reference (``"<pk>"`` or ``"<order_no>:<pk>"``)."""
    tail = line_reference.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def order_allocate_locked(*, order: Order, actor: str, remark: str = "") -> Order:
    """Allocate a locked, ``paid`` order inside the caller's transaction (audit calls this)."""
    lines = list(order.lines.all())
    try:
        allocations = order_reserve_stock(order=order, actor=actor, lines=lines)
        allocations = _source_again_if_unsuitable(order=order, lines=lines, allocations=allocations, actor=actor)
    except InsufficientStock as exc:
        return order_hold_out_of_stock(order=order, shortage=exc, actor=actor)
    by_line: dict[int, list[Allocation]] = defaultdict(list)
    for allocation in allocations:
        by_line[line_id_of(allocation.line_reference)].append(allocation)
    mismatched = [line.pk for line in lines if sum(a.quantity for a in by_line.get(line.pk, [])) != line.quantity]
    if mismatched or set(by_line) - {line.pk for line in lines}:
        raise Conflict(
            FulfillmentErrorCode.RESERVATION_MISMATCH,
            _("The stock reserved for order %(order_no)s does not match its lines.") % {"order_no": order.order_no},
            {"order_line_ids": mismatched},
        )
    packages: dict[int, list] = defaultdict(list)
    line_by_id = {line.pk: line for line in lines}
    for line_id, line_allocations in sorted(by_line.items()):
        for allocation in line_allocations:
            packages[allocation.warehouse_id].append((line_by_id[line_id], allocation.sku_id, allocation.quantity))
    fulfillments = [
        fulfillment_create(warehouse_id=warehouse_id, lines=package)
        for warehouse_id, package in sorted(packages.items())
    ]
    numbers = [f.fulfillment_no for f in fulfillments]
    order.audited_at = order.audited_at or timezone.now()
    order_apply_transition(
        order=order,
        transition="allocate",
        actor=actor,
        remark=remark
        or _("Allocated to %(count)d fulfillment(s): %(numbers)s")
        % {"count": len(numbers), "numbers": ", ".join(numbers)},
        update_fields=("audited_at", "hold_reasons"),
        extra_payload={"fulfillment_nos": numbers},
    )
    for fulfillment in fulfillments:
        fulfillment_publish(fulfillment, order_nos=[order.order_no])
    return order


def _source_again_if_unsuitable(
    *, order: Order, lines: list[OrderLine], allocations: list[Allocation], actor: str
) -> list[Allocation]:
    destination = Destination(province=order.province, city=order.city)
    unsellable, far = warehouses_to_leave(warehouse_ids={a.warehouse_id for a in allocations}, destination=destination)
    if not unsellable and not far:
        return allocations
    references = {line_id_of(a.line_reference): a.line_reference for a in allocations}
    try:
        return stock_resource(
            reference=order.order_no,
            requests=[
                StockRequest(
                    sku_id=line.sku_id, quantity=line.quantity, line_reference=references.get(line.pk, str(line.pk))
                )
                for line in lines
            ],
            destination=destination,
            warehouse_ids=order_shop_warehouse_ids(order) or None,
            operator=actor,
        )
    except InsufficientStock:
        if unsellable:
            raise
        return allocations


def order_allocate(*, order_no: str, actor: str) -> Order:
    """Create the fulfillments of a ``paid`` order and move it to ``pending_shipment`` (409 otherwise)."""
    with transaction.atomic():
        order = order_lock(order_no=order_no)
        if order.status != OrderStatus.PAID:
            raise Conflict(
                FulfillmentErrorCode.NOT_AUDITABLE,
                _("Order %(order_no)s is %(status)s; only paid orders are allocated.")
                % {"order_no": order_no, "status": order.get_status_display()},
                {"status": order.status},
            )
        order.hold_reasons = []
        return order_allocate_locked(order=order, actor=actor)
