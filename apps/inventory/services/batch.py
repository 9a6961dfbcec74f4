"""Reservations for a batch of references (platform orders converted 50 at a time).

``stock_reserve_many`` does what ``stock_reserve`` does for each reference, with a fixed
number of queries for the whole batch: the references are planned one after another against
one read of the candidate stock, in the order given, each taking what the earlier ones left.
A reference that does not fit is reported short and reserves nothing; the others are written
together (one conditional UPDATE over every touched stock row, then the movements, the
reservations and one ``stock.changed`` event). When a competitor took stock between the read
and the UPDATE, the batch is planned again from a fresh read.
"""

from collections import defaultdict
from collections.abc import Sequence
from copy import copy
from dataclasses import dataclass, replace

from django.db import connection, transaction
from django.utils import timezone

from apps.core.db import retry_on_deadlock
from apps.inventory.domain import Allocation, Destination, InsufficientStock, Shortage, StockRequest
from apps.inventory.gate import gate_admit, gate_give_back, gate_shift
from apps.inventory.models import Reservation, ReservationClaim, Sku, StockMovement
from apps.inventory.services.common import publish_stock_changed
from apps.inventory.services.reservations import (
    RACE_ATTEMPTS,
    _add_reserved,
    _check_requests,
    _movements,
    reservation_rows,
)
from apps.inventory.sourcing import NoPlan, candidate_stocks, needs_of, plan_packages


@dataclass(frozen=True)
class ReserveItem:
    """One reference of a batch: its lines, where it ships to and the warehouses it may use."""

    reference: str
    requests: Sequence[StockRequest]
    destination: Destination | None = None
    warehouse_ids: Sequence[int] | None = None


@dataclass(frozen=True)
class BatchReservation:
    """Per reference: its allocations (reserved now or held already), or why it is short."""

    allocations: dict[str, list[Allocation]]
    shortages: dict[str, InsufficientStock]


class BatchRaced(Exception):
    """Competitors kept taking the planned stock: reserve these references one by one."""


def stock_reserve_many(*, items: Sequence[ReserveItem], operator: str) -> BatchReservation:
    """Reserve each item all-or-nothing, the whole batch in a fixed number of queries.

    Idempotent per reference like ``stock_reserve``: a reference that already holds
    reservations gets them back unchanged (its claim row is locked first). Hot SKUs pass the
    Redis gate per item; an item the gate refuses is short. Raises nothing for short stock:
    short references are in ``shortages`` and reserved nothing. Raises ``BatchRaced`` when
    the stock kept changing under the batch (the caller then reserves one by one).
    """
    for item in items:
        _check_requests(item.requests)
    admitted: dict[str, dict[int, int]] = {}
    gate_short: dict[str, list[Shortage]] = {}
    for item in items:
        try:
            admitted[item.reference] = gate_admit(needs_of(item.requests), reference=item.reference)
        except InsufficientStock as exc:
            gate_short[item.reference] = exc.shortages
    try:
        allocations, shortages, created = _reserve_batch(
            items=[item for item in items if item.reference not in gate_short], operator=operator
        )
    except BaseException:
        for reference, taken in admitted.items():
            gate_give_back(taken, reference=reference)
        raise
    for reference, taken in admitted.items():
        if reference in shortages:
            gate_give_back(taken, reference=reference)
        elif reference not in created:
            gate_shift(taken)  # held already: its first call took the units
    return BatchReservation(allocations=allocations, shortages=_with_codes({**shortages, **gate_short}))


def _with_codes(shortages: dict[str, list[Shortage]]) -> dict[str, InsufficientStock]:
    """Each reference's shortages as the error ``stock_reserve`` raises, SKU codes filled in."""
    if not shortages:
        return {}
    wanted = {s.sku_id for short in shortages.values() for s in short}
    codes = dict(Sku.objects.filter(pk__in=wanted).values_list("pk", "code"))
    return {
        reference: InsufficientStock([replace(s, sku_code=s.sku_code or codes.get(s.sku_id, "")) for s in short])
        for reference, short in shortages.items()
    }


@retry_on_deadlock
def _reserve_batch(*, items: list[ReserveItem], operator: str) -> tuple[dict, dict, set[str]]:
    for attempt in range(RACE_ATTEMPTS):
        try:
            return _reserve_batch_once(items=items, operator=operator)
        except BatchRaced:
            if attempt == RACE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _reserve_batch_once(*, items: list[ReserveItem], operator: str) -> tuple[dict, dict, set[str]]:
    allocations: dict[str, list[Allocation]] = {}
    shortages: dict[str, list[Shortage]] = {}
    if not items:
        return allocations, shortages, set()
    with transaction.atomic():
        _claim_all([item.reference for item in items])
        for reservation in Reservation.objects.filter(
            reference__in=[item.reference for item in items], status=Reservation.Status.ACTIVE
        ).select_related("stock"):
            allocations.setdefault(reservation.reference, []).append(
                Allocation(
                    line_reference=reservation.line_reference,
                    sku_id=reservation.stock.sku_id,
                    warehouse_id=reservation.stock.warehouse_id,
                    quantity=reservation.quantity,
                )
            )
        held = set(allocations)
        todo = [item for item in items if item.reference not in held]
        stocks = {
            stock.pk: copy(stock)
            for stock in candidate_stocks({sku_id for item in todo for sku_id in needs_of(item.requests)})
            if stock.sku.is_active
        }
        by_place = {(stock.sku_id, stock.warehouse_id): stock for stock in stocks.values()}
        deltas: dict[int, int] = defaultdict(int)
        for item in todo:
            allowed = None if item.warehouse_ids is None else set(item.warehouse_ids)
            usable = [s for s in stocks.values() if allowed is None or s.warehouse_id in allowed]
            try:
                packages = plan_packages(requests=item.requests, stocks=usable, destination=item.destination)
            except NoPlan as exc:
                shortages[item.reference] = exc.shortages
                continue
            planned = [a for package in packages for a in package.allocations]
            for a in planned:
                stock = by_place[(a.sku_id, a.warehouse_id)]
                stock.reserved += a.quantity  # the next item plans on what is left
                deltas[stock.pk] += a.quantity
            allocations[item.reference] = planned
        created = {item.reference for item in todo if item.reference in allocations}
        if not deltas:
            return allocations, shortages, created
        if _add_reserved(deltas) != len(deltas):
            raise BatchRaced
        movements, reservations = [], []
        for reference in sorted(created):
            own: dict[int, int] = defaultdict(int)
            for a in allocations[reference]:
                own[by_place[(a.sku_id, a.warehouse_id)].pk] += a.quantity
            movements += _movements(own, reason=StockMovement.Reason.RESERVE, reference=reference, operator=operator)
            reservations += reservation_rows(reference, allocations[reference], by_place)
        StockMovement.objects.bulk_create(movements)
        Reservation.objects.bulk_create(reservations)
        touched = [stocks[pk] for pk in deltas]
        publish_stock_changed(
            reference=f"batch:{min(created)}..{max(created)}",
            sku_ids=[s.sku_id for s in touched],
            warehouse_ids=[s.warehouse_id for s in touched],
        )
    return allocations, shortages, created


def _claim_all(references: list[str]) -> None:
    """Lock every reference's claim row (one upsert), as ``stock_reserve`` does for one."""
    now = timezone.now()
    target = {"unique_fields": ["reference"]} if connection.features.supports_update_conflicts_with_target else {}
    ReservationClaim.objects.bulk_create(
        [ReservationClaim(reference=reference, claimed_at=now) for reference in sorted(references)],
        update_conflicts=True,
        update_fields=["claimed_at"],
        **target,
    )
