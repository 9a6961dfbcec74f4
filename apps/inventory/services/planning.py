"""Reserving stock, planned then written, for one reference or a batch.

``stock_plan`` reads the candidate stock once and decides every reference's warehouses in
memory (hot SKUs pass the Redis gate first); ``stock_plan_take`` takes all planned units with
ONE multi-row UPDATE as the first write of the caller's transaction; ``stock_plan_record``
inserts the ledger rows and the reservations, a statement each, and hands back the
``stock.changed`` event for the caller's one outbox INSERT. ``stock_reserve`` and
``stock_reserve_many`` (``services.reservations``) are this path with the reference's claim
in front; the orders app runs it for brand-new order numbers inside its own write transaction.

The UPDATE adds each row's units in one statement (``reserved = reserved + CASE id ...``,
over ``id IN (...)``, which InnoDB applies in primary-key order, so two reservations touching
the same SKUs in opposite line order lock them in the same order). The database's CHECK
``reserved <= on_hand`` guards every row: when one row no longer has the units (a competitor
took them since the plan read), the whole statement fails and changes nothing, and the plan
is made again from a fresh read. No savepoint is needed to undo a partial update, and a lost
race leaves the caller's transaction usable.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from copy import copy
from dataclasses import dataclass, field, replace

from django.db import DatabaseError, IntegrityError, connection
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.exceptions import Unprocessable
from apps.core.outbox import EventInput
from apps.inventory.domain import Allocation, Destination, InsufficientStock, Shortage, StockRequest
from apps.inventory.error_codes import InventoryErrorCode
from apps.inventory.gate import gate_admit, gate_give_back, gate_hot_sku_ids
from apps.inventory.models import Reservation, Stock, StockMovement
from apps.inventory.services.common import check_quantity
from apps.inventory.sourcing import NoPlan, candidate_stocks, needs_of, plan_packages

logger = logging.getLogger(__name__)

RACE_ATTEMPTS = 3


@dataclass(frozen=True)
class ReserveItem:
    """One reference to reserve: its lines, where it ships to and the warehouses it may use
    (None: any active online warehouse)."""

    reference: str
    requests: Sequence[StockRequest]
    destination: Destination | None = None
    warehouse_ids: Sequence[int] | None = None


@dataclass(frozen=True)
class BatchReservation:
    """Per reference: its allocations (reserved now or held already), or why it is short."""

    allocations: dict[str, list[Allocation]]
    shortages: dict[str, InsufficientStock]
    gate_refused: frozenset[str] = frozenset()


@dataclass
class ReservationPlan:
    """What a batch of references reserves, decided from one read of the candidate stock.

    ``allocations`` per reference that fits; ``shortages`` per reference that does not (it
    reserves nothing); ``deltas`` the units to add per stock row; ``admitted`` what the
    hot-SKU gate gave each reference (given back by ``stock_plan_abandon``).
    """

    items: list[ReserveItem]
    allocations: dict[str, list[Allocation]] = field(default_factory=dict)
    shortages: dict[str, list[Shortage]] = field(default_factory=dict)
    deltas: dict[int, int] = field(default_factory=dict)
    stock_ids: dict[tuple[int, int], int] = field(default_factory=dict)
    admitted: dict[str, dict[int, int]] = field(default_factory=dict)
    sku_codes: dict[int, str] = field(default_factory=dict)

    def insufficient(self, reference: str, codes: dict[int, str] | None = None) -> InsufficientStock:
        """The refusal of a short reference, SKU codes filled in from the plan's read and ``codes``."""
        known = {**self.sku_codes, **(codes or {})}
        return InsufficientStock(
            [replace(s, sku_code=s.sku_code or known.get(s.sku_id, "")) for s in self.shortages[reference]]
        )


def reservation_rows(reference: str, allocations: Iterable[Allocation], stock_ids: dict) -> list[Reservation]:
    """Unsaved reservations of ``reference``; ``stock_ids`` maps (sku_id, warehouse_id) to its stock id."""
    return [
        Reservation(
            reference=reference,
            line_reference=a.line_reference,
            stock_id=stock_ids[(a.sku_id, a.warehouse_id)],
            quantity=a.quantity,
        )
        for a in allocations
    ]


def _movements(deltas: dict[int, int], **fields) -> list[StockMovement]:
    return [StockMovement(stock_id=pk, delta_reserved=n, **fields) for pk, n in sorted(deltas.items()) if n]


def _check_requests(requests: Sequence[StockRequest]) -> list[StockRequest]:
    requests = list(requests)
    if not requests:
        raise Unprocessable(InventoryErrorCode.INVALID_QUANTITY, _("Nothing to reserve: no lines were given."))
    for request in requests:
        check_quantity(request.quantity)
    return requests


def stock_plan(*, items: Sequence[ReserveItem]) -> ReservationPlan:
    """Plan the reservation of ``items``, in the order given, each all or nothing, each taking
    what the earlier ones left: at most one query (the candidate stock), no writes.

    Hot SKUs pass the Redis gate first, per reference (``stock_gate_admit``); a reference the
    gate refuses is short without any SQL. Cold SKUs cost no Redis round trip.
    """
    items = list(items)
    for item in items:
        _check_requests(item.requests)
    admitted, refused = stock_gate_admit(items)
    todo = [item for item in items if item.reference not in refused]
    stocks = candidate_stocks({sku_id for item in todo for sku_id in needs_of(item.requests)}) if todo else []
    plan = _plan(todo, stocks, admitted=admitted)
    plan.shortages.update(refused)
    return plan


def stock_gate_admit(items: Sequence[ReserveItem]) -> tuple[dict[str, dict[int, int]], dict[str, list[Shortage]]]:
    """Pass the hot SKUs of each item through the Redis gate: (units taken per reference,
    shortages per refused reference). Only SKUs the gate counts as hot (``gate_hot_sku_ids``)
    cost a round trip; an item without them is not asked about."""
    hot = gate_hot_sku_ids()
    admitted: dict[str, dict[int, int]] = {}
    refused: dict[str, list[Shortage]] = {}
    if not hot:
        return admitted, refused
    for item in items:
        needs = {sku_id: n for sku_id, n in needs_of(item.requests).items() if sku_id in hot}
        if not needs:
            continue
        try:
            admitted[item.reference] = gate_admit(needs, reference=item.reference)
        except InsufficientStock as exc:
            refused[item.reference] = exc.shortages
    return admitted, refused


def _plan(items: list[ReserveItem], stocks: list[Stock], *, admitted: dict | None = None) -> ReservationPlan:
    plan = ReservationPlan(items=items, admitted=dict(admitted or {}))
    rows = [copy(stock) for stock in stocks]
    plan.sku_codes = {stock.sku_id: stock.sku.code for stock in rows}
    by_place = {(stock.sku_id, stock.warehouse_id): stock for stock in rows}
    plan.stock_ids = {place: stock.pk for place, stock in by_place.items()}
    deltas: dict[int, int] = defaultdict(int)
    for item in items:
        allowed = None if item.warehouse_ids is None else set(item.warehouse_ids)
        usable = [s for s in rows if s.sku.is_active and (allowed is None or s.warehouse_id in allowed)]
        try:
            packages = plan_packages(requests=item.requests, stocks=usable, destination=item.destination)
        except NoPlan as exc:
            plan.shortages[item.reference] = exc.shortages
            continue
        planned = [a for package in packages for a in package.allocations]
        for a in planned:
            stock = by_place[(a.sku_id, a.warehouse_id)]
            stock.reserved += a.quantity  # the next item plans on what is left
            deltas[stock.pk] += a.quantity
        plan.allocations[item.reference] = planned
    plan.deltas = dict(deltas)
    return plan


def stock_plan_abandon(plan: ReservationPlan) -> None:
    """Give back what the gate admitted for a plan that was not (or will not be) written."""
    for reference, taken in plan.admitted.items():
        gate_give_back(taken, reference=reference)


def _take(deltas: dict[int, int]) -> bool:
    """Add every row's units in one UPDATE; False (nothing changed) when a row lacks them.

    Raw SQL on purpose: Django's ``QuerySet.update`` marks the transaction for rollback on
    any error, while here the refused statement is expected and undone by the database.
    """
    if not deltas:
        return True
    table = connection.ops.quote_name(Stock._meta.db_table)
    ids = sorted(deltas)
    cases = " ".join("WHEN %s THEN %s" for _pk in ids)
    # Only placeholders and the quoted table name are put into the text.
    sql = (
        f"UPDATE {table} SET reserved = reserved + CASE id {cases} END, updated_at = %s "  # noqa: S608
        f"WHERE id IN ({', '.join('%s' for _pk in ids)})"
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params = [value for pk in ids for value in (pk, deltas[pk])] + [now, *ids]
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            changed = cursor.rowcount
    except IntegrityError:
        return False  # CHECK reserved <= on_hand: the statement changed nothing
    if changed != len(ids):
        raise DatabaseError(f"stock rows {ids} changed {changed} rows")
    return True


def stock_plan_take(plan: ReservationPlan) -> ReservationPlan:
    """Take the plan's units: one UPDATE, inside the caller's transaction and before its other
    writes. A lost race plans again from a fresh read (the gate is not asked twice); after
    ``RACE_ATTEMPTS`` every reference still planned is short. Returns the plan taken: its
    ``shortages`` may have grown, and those references reserved nothing."""
    for _attempt in range(RACE_ATTEMPTS):
        if _take(plan.deltas):
            return plan
        fresh = _plan(plan.items, candidate_stocks(plan.sku_codes), admitted=plan.admitted)
        fresh.shortages = {**plan.shortages, **fresh.shortages}
        fresh.allocations = {r: a for r, a in fresh.allocations.items() if r not in plan.shortages}
        fresh.deltas = _deltas(fresh)
        plan = fresh
    logger.warning("stock kept changing under %d references; refusing them as short", len(plan.allocations))
    totals: dict[int, int] = defaultdict(int)
    for stock in candidate_stocks(plan.sku_codes):
        totals[stock.sku_id] += max(stock.available, 0)
    for reference in plan.allocations:
        item = next(item for item in plan.items if item.reference == reference)
        plan.shortages[reference] = [
            Shortage(sku_id=sku_id, requested=n, available=totals[sku_id])
            for sku_id, n in needs_of(item.requests).items()
        ]
    plan.allocations, plan.deltas = {}, {}
    return plan


def _deltas(plan: ReservationPlan) -> dict[int, int]:
    deltas: dict[int, int] = defaultdict(int)
    for allocations in plan.allocations.values():
        for a in allocations:
            deltas[plan.stock_ids[(a.sku_id, a.warehouse_id)]] += a.quantity
    return dict(deltas)


def stock_plan_record(
    plan: ReservationPlan, *, operator: str, line_references: dict[str, dict[str, str]] | None = None
) -> EventInput | None:
    """Write the ledger and the reservations of a taken plan (two statements) and return its
    ``stock.changed`` event, for the caller to publish with its own events.

    ``line_references`` renames line references per reference (the orders app plans with
    line positions and records with the line ids it has just inserted); ``plan.allocations``
    is updated to the recorded names.
    """
    movements: list[StockMovement] = []
    reservations: list[Reservation] = []
    for reference in sorted(plan.allocations):
        allocations = plan.allocations[reference]
        if line_references is not None:
            names = line_references[reference]
            allocations = [replace(a, line_reference=names[a.line_reference]) for a in allocations]
            plan.allocations[reference] = allocations
        own: dict[int, int] = defaultdict(int)
        for a in allocations:
            own[plan.stock_ids[(a.sku_id, a.warehouse_id)]] += a.quantity
        movements += _movements(own, reason=StockMovement.Reason.RESERVE, reference=reference, operator=operator)
        reservations += reservation_rows(reference, allocations, plan.stock_ids)
    if not reservations:
        return None
    StockMovement.objects.bulk_create(movements)
    Reservation.objects.bulk_create(reservations)
    touched = {place for allocations in plan.allocations.values() for place in _places(allocations)}
    references = sorted(plan.allocations)
    return EventInput(
        topic="stock.changed",
        aggregate_type="stock",
        aggregate_id=references[0] if len(references) == 1 else f"batch:{references[0]}..{references[-1]}",
        payload={
            "sku_ids": sorted({sku_id for sku_id, _wh in touched}),
            "warehouse_ids": sorted({wh for _sku, wh in touched}),
        },
    )


def _places(allocations: Iterable[Allocation]) -> set[tuple[int, int]]:
    return {(a.sku_id, a.warehouse_id) for a in allocations}
