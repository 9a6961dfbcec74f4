"""Audit and allocation of many paid orders at once (the ``orders.audit`` outbox consumer).

The usual case after a platform conversion: paid orders that hold their reservations, pass
every rule and whose warehouses still suit them. Those are audited, given one fulfillment per
warehouse and moved to ``pending_shipment`` with a fixed number of statements for the whole
batch: the order rows locked (by order number), their lines, reservations, the blacklist,
duplicate candidates and the warehouses read once each, then one INSERT per table and one
UPDATE of the orders. Every other order (a finding, no reservation, a warehouse to leave, a
reservation that does not match its lines) takes the one-order path (``order_audit``),
under the same lock, in its own savepoint, so its failure does not hold back the others.
"""

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.exceptions import ApplicationError
from apps.core.numbers import next_number
from apps.core.outbox import EventInput, outbox_publish_many
from apps.inventory.domain import Allocation, Destination
from apps.inventory.selectors import reservations_for_many
from apps.inventory.services import warehouses_to_leave_many
from apps.orders.models import (
    BlacklistedPhone,
    Fulfillment,
    FulfillmentLine,
    Order,
    OrderLine,
    OrderStatus,
    OrderStatusLog,
)
from apps.orders.services.allocation import line_id_of
from apps.orders.services.audit import NOT_DUPLICATE_STATUSES, _audit_locked, audit_prices, findings_of
from apps.orders.services.common import order_cache_invalidate_on_commit, order_event_payload
from apps.orders.services.fulfillment.common import fulfillment_event_payload

logger = logging.getLogger(__name__)


@dataclass
class AuditBatchResult:
    allocated: list[str] = field(default_factory=list)  # by the batch writer
    one_by_one: list[str] = field(default_factory=list)  # audited on the one-order path
    failed: dict[str, ApplicationError] = field(default_factory=dict)  # left as they were


def orders_audit_batch(*, order_nos: list[str], actor: str) -> AuditBatchResult:
    """Audit the ``paid`` orders among ``order_nos`` (others are skipped: already audited,
    cancelled...). Runs in one transaction; an order the one-order path refuses is in
    ``failed`` and unchanged."""
    result = AuditBatchResult()
    with transaction.atomic():
        orders = list(
            Order.objects.select_for_update()
            .filter(order_no__in=sorted(set(order_nos)), status=OrderStatus.PAID)
            .order_by("order_no")
        )
        if not orders:
            return result
        lines_by_order: dict[int, list[OrderLine]] = defaultdict(list)
        for line in OrderLine.objects.filter(order__in=orders).order_by("id"):
            lines_by_order[line.order_id].append(line)
        reserved = reservations_for_many([order.order_no for order in orders])
        phones = {order.recipient_phone.strip() for order in orders} - {""}
        blacklisted = set(BlacklistedPhone.objects.filter(phone__in=phones).values_list("phone", flat=True))
        duplicates = _duplicates_of(orders, lines_by_order)
        prices = audit_prices({order.pk: (order, lines_by_order[order.pk]) for order in orders})
        leave = warehouses_to_leave_many(
            items={
                order.order_no: (
                    {a.warehouse_id for a in reserved.get(order.order_no, [])},
                    Destination(province=order.province, city=order.city),
                )
                for order in orders
            }
        )
        fast: list[tuple[Order, dict[int, list]]] = []
        slow: list[Order] = []
        for order in orders:
            findings = findings_of(
                order,
                lines=lines_by_order[order.pk],
                blacklisted=order.recipient_phone.strip() in blacklisted,
                duplicate=duplicates.get(order.order_no),
                prices=prices,
            )
            packages = _packages(lines_by_order[order.pk], reserved.get(order.order_no, []))
            unsellable, far = leave[order.order_no]
            if findings or packages is None or unsellable or far:
                slow.append(order)
            else:
                fast.append((order, packages))
        result.allocated = _allocate(fast, actor=actor)
        for order in slow:
            try:
                with transaction.atomic():
                    _audit_locked(order, actor=actor)
                result.one_by_one.append(order.order_no)
            except ApplicationError as exc:
                logger.warning("audit of order %s failed: %s", order.order_no, exc.message)
                result.failed[order.order_no] = exc
    return result


def _packages(lines: list[OrderLine], allocations: list[Allocation]) -> dict[int, list] | None:
    """Per warehouse, (line, sku id, quantity); None when the reservations do not cover the lines exactly."""
    if not allocations:
        return None
    by_line: dict[int | None, list[Allocation]] = defaultdict(list)
    for allocation in allocations:
        by_line[line_id_of(allocation.line_reference)].append(allocation)
    line_by_id = {line.pk: line for line in lines}
    if set(by_line) - set(line_by_id) or any(
        sum(a.quantity for a in by_line.get(line.pk, [])) != line.quantity for line in lines
    ):
        return None
    packages: dict[int, list] = defaultdict(list)
    for line_id, line_allocations in sorted(by_line.items()):
        for allocation in line_allocations:
            packages[allocation.warehouse_id].append((line_by_id[line_id], allocation.sku_id, allocation.quantity))
    return packages


def _duplicates_of(orders: list[Order], lines_by_order: dict[int, list[OrderLine]]) -> dict[str, str]:
    """``_duplicate_of`` for many orders: two queries (candidates and their lines)."""
    window = timedelta(minutes=settings.AUDIT_DUPLICATE_WINDOW_MINUTES)
    if window <= timedelta(0):
        return {}
    shop_ids = {order.shop_id for order in orders}
    # ``IN`` never matches NULL: orders without a shop are asked for with IS NULL.
    same_shop = (
        Q(shop_id__in=shop_ids - {None}) | Q(shop_id__isnull=True) if None in shop_ids else Q(shop_id__in=shop_ids)
    )
    candidates = list(
        Order.objects.filter(
            same_shop,
            buyer_id__in={order.buyer_id for order in orders},
            created_at__gte=min(order.created_at for order in orders) - window,
            created_at__lte=max(order.created_at for order in orders) + window,
        )
        .exclude(status__in=NOT_DUPLICATE_STATUSES)
        .prefetch_related("lines")
        .order_by("created_at")
    )
    by_person: dict[tuple, list[Order]] = defaultdict(list)
    for candidate in candidates:
        by_person[_person(candidate)].append(candidate)
    found = {}
    for order in orders:
        items = Counter((line.sku_id, line.quantity) for line in lines_by_order[order.pk])
        for other in by_person.get(_person(order), []):
            if (
                other.pk != order.pk
                and abs(other.created_at - order.created_at) <= window
                and Counter((line.sku_id, line.quantity) for line in other.lines.all()) == items
            ):
                found[order.order_no] = other.order_no
                break
    return found


def _person(order: Order) -> tuple:
    # The database compares these case-insensitively and ignores trailing spaces; so does this key.
    fields = (order.buyer_id, order.recipient_phone, order.province, order.city, order.district, order.address)
    return (order.shop_id, *(value.rstrip().casefold() for value in fields))


def _allocate(fast: list[tuple[Order, dict[int, list]]], *, actor: str) -> list[str]:
    """One fulfillment per warehouse of each order, the orders ``pending_shipment``, logged
    and published: one INSERT per table and one UPDATE of the orders."""
    if not fast:
        return []
    now = timezone.now()
    remark = _("Audit passed; allocated.")
    planned: list[tuple[Order, list[tuple[Fulfillment, list]]]] = []
    for order, packages in fast:
        planned.append(
            (
                order,
                [
                    (Fulfillment(fulfillment_no=f"F{next_number()}", warehouse_id=warehouse_id), packages[warehouse_id])
                    for warehouse_id in sorted(packages)
                ],
            )
        )
    fulfillments = Fulfillment.objects.bulk_create(
        [fulfillment for _order, mine in planned for fulfillment, _lines in mine]
    )
    if any(fulfillment.pk is None for fulfillment in fulfillments):
        # MySQL returns no ids from a bulk INSERT (MariaDB does): read them back by number.
        ids = dict(
            Fulfillment.objects.filter(fulfillment_no__in=[f.fulfillment_no for f in fulfillments]).values_list(
                "fulfillment_no", "id"
            )
        )
        for fulfillment in fulfillments:
            fulfillment.pk = ids[fulfillment.fulfillment_no]
    FulfillmentLine.objects.bulk_create(
        [
            FulfillmentLine(fulfillment=fulfillment, order_line=line, sku_id=sku_id, quantity=quantity)
            for _order, mine in planned
            for fulfillment, package in mine
            for line, sku_id, quantity in package
        ]
    )
    Order.objects.filter(pk__in=[order.pk for order, _packages in fast]).update(
        status=OrderStatus.PENDING_SHIPMENT,
        version=F("version") + 1,
        audited_at=now,
        hold_reasons=[],
        updated_at=now,
    )
    OrderStatusLog.objects.bulk_create(
        [
            OrderStatusLog(
                order=order,
                from_status=OrderStatus.PAID,
                to_status=OrderStatus.PENDING_SHIPMENT,
                operator=actor,
                remark=remark,
            )
            for order, _packages in fast
        ]
    )
    events = []
    for order, mine in planned:
        numbers = [fulfillment.fulfillment_no for fulfillment, _package in mine]
        payload = {
            **order_event_payload(order),
            "status": OrderStatus.PENDING_SHIPMENT,
            "version": order.version + 1,
            "fulfillment_nos": numbers,
        }
        events.append(EventInput("order.pending_shipment", "order", order.order_no, payload))
        events.extend(
            EventInput(
                "fulfillment.created",
                "fulfillment",
                fulfillment.fulfillment_no,
                fulfillment_event_payload(fulfillment, order_nos=[order.order_no]),
            )
            for fulfillment, _package in mine
        )
    outbox_publish_many(events)
    order_nos = [order.order_no for order, _packages in fast]
    order_cache_invalidate_on_commit(order_nos)
    return order_nos
