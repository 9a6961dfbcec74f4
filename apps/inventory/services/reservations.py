"""Reservations: reserve, release, consume (on shipment) and reallocate.

``stock_reserve`` (one reference) and ``stock_reserve_many`` (a batch) lock each reference's
claim row, return what it already holds, and reserve the rest through the plan-then-write
path of ``services.planning``. Release, consume and reallocate change stock with per-row
guarded UPDATEs under row locks (``WHERE id IN (...) AND ...``, n per row by CASE), which
InnoDB applies in primary-key order.
"""

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import replace
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.db import retry_on_deadlock
from apps.core.exceptions import Conflict, NotFound, Unprocessable
from apps.core.outbox import outbox_publish_many
from apps.inventory.domain import Allocation, Destination, InsufficientStock, Shortage, StockRequest
from apps.inventory.error_codes import InventoryErrorCode
from apps.inventory.gate import gate_forget, gate_give_back, gate_shift
from apps.inventory.models import Reservation, ReservationClaim, Sku, Stock, StockMovement, Warehouse
from apps.inventory.selectors import reservations_for
from apps.inventory.services.common import (
    check_quantity,
    publish_stock_changed,
    shift_gate_on_commit,
)
from apps.inventory.services.planning import (
    BatchReservation,
    ReservationPlan,
    ReserveItem,
    _check_requests,
    _movements,
    _plan,
    stock_gate_admit,
    stock_plan_record,
    stock_plan_take,
)
from apps.inventory.sourcing import NoPlan, candidate_stocks, insufficient_stock, needs_of, plan_packages

logger = logging.getLogger(__name__)


def _per_row(deltas: dict[int, int]) -> Case:
    return Case(*[When(pk=pk, then=Value(n)) for pk, n in deltas.items()], output_field=IntegerField())


def _add_reserved(deltas: dict[int, int]) -> int:
    """``reserved += n`` on every row where it still fits under on_hand; returns rows changed."""
    amount = _per_row(deltas)
    return Stock.objects.filter(pk__in=list(deltas), on_hand__gte=F("reserved") + amount).update(
        reserved=F("reserved") + amount, updated_at=timezone.now()
    )


def _gated(stock_rows: Iterable[tuple[int, int, bool, bool]], deltas: dict[int, int]) -> dict[int, int]:
    """Per hot SKU, the change in sellable units from ``deltas`` keyed by stock id.

    ``stock_rows`` yields ``(stock_id, sku_id, is_hot, sellable)``.
    """
    shift: dict[int, int] = defaultdict(int)
    for stock_id, sku_id, is_hot, sellable in stock_rows:
        if is_hot and sellable:
            shift[sku_id] += deltas.get(stock_id, 0)
    return shift


def _own_transaction():
    """A transaction when the caller has none; inside the caller's, no savepoint: nothing
    here raises after a write except database errors, which end the caller's transaction."""
    return nullcontext() if connection.in_atomic_block else transaction.atomic()


def stock_reserve(
    *,
    reference: str,
    requests: Sequence[StockRequest],
    destination: Destination | None = None,
    warehouse_ids: Sequence[int] | None = None,
    operator: str,
) -> list[Allocation]:
    """Reserve every line or none; sourcing picks the warehouses. Returns the allocations.

    A batch of one of ``stock_reserve_many``. Idempotent: when ``reference`` already holds
    active reservations they are returned unchanged, also to calls made at the same moment
    (the reference's ``ReservationClaim`` row is locked first). Raises ``InsufficientStock``
    naming every short SKU, ``sku_inactive`` (422) or ``sku_not_found`` (404); nothing is
    written then and the caller's transaction goes on. SQL on success, independent of the
    number of lines: the claim, the active reservations of the reference, the candidate
    stock, one UPDATE, the movements, the reservations and the outbox event (7), plus the
    outbox deliveries when a consumer subscribes to ``stock.changed`` (1). A repeated call
    runs 2. Hot SKUs add a Redis call, no SQL.
    """
    requests = _check_requests(requests)
    result = _reserve_many(
        items=[
            ReserveItem(
                reference=reference,
                requests=requests,
                destination=destination,
                warehouse_ids=None if warehouse_ids is None else list(warehouse_ids),
            )
        ],
        operator=operator,
    )
    if reference in result.gate_refused:
        raise result.shortages[reference]  # named by the gate, without SQL
    if reference in result.shortages:
        shortage = result.shortages[reference]
        codes = _raise_unusable_skus(needs_of(requests))
        raise InsufficientStock(
            [replace(s, sku_code=s.sku_code or codes.get(s.sku_id, "")) for s in shortage.shortages]
        )
    return result.allocations[reference]


def stock_reserve_many(*, items: Sequence[ReserveItem], operator: str) -> BatchReservation:
    """Reserve each item all-or-nothing, the whole batch in a fixed number of queries.

    Idempotent per reference like ``stock_reserve``: a reference that already holds
    reservations gets them back unchanged (its claim row is locked first). Raises nothing for
    short stock: short references are in ``shortages`` and reserved nothing.
    """
    for item in items:
        _check_requests(item.requests)
    return _reserve_many(items=list(items), operator=operator)


@retry_on_deadlock
def _reserve_many(*, items: list[ReserveItem], operator: str) -> BatchReservation:
    admitted, refused = stock_gate_admit(items)
    live = [item for item in items if item.reference not in refused]
    held: dict[str, list[Allocation]] = {}
    plan = ReservationPlan(items=[], admitted=admitted)
    try:
        if live:
            with _own_transaction():
                _claim_all([item.reference for item in live])
                for reservation in Reservation.objects.filter(
                    reference__in=[item.reference for item in live], status=Reservation.Status.ACTIVE
                ).select_related("stock"):
                    held.setdefault(reservation.reference, []).append(
                        Allocation(
                            line_reference=reservation.line_reference,
                            sku_id=reservation.stock.sku_id,
                            warehouse_id=reservation.stock.warehouse_id,
                            quantity=reservation.quantity,
                        )
                    )
                todo = [item for item in live if item.reference not in held]
                if todo:
                    stocks = candidate_stocks({sku_id for item in todo for sku_id in needs_of(item.requests)})
                    plan = stock_plan_take(_plan(todo, stocks, admitted=admitted))
                    event = stock_plan_record(plan, operator=operator)
                    if event is not None:
                        outbox_publish_many([event])
    except BaseException:
        for reference, taken in admitted.items():
            gate_give_back(taken, reference=reference)
        raise
    for reference in plan.shortages:
        gate_give_back(admitted.get(reference, {}), reference=reference)
    for reference in held:
        gate_shift(admitted.get(reference, {}))  # the first call took the units already
    plan.shortages.update(refused)
    return BatchReservation(
        allocations={**held, **plan.allocations},
        shortages={reference: plan.insufficient(reference) for reference in plan.shortages},
        gate_refused=frozenset(refused),
    )


def _claim_all(references: list[str]) -> None:
    """Lock every reference's claim row until the transaction ends, creating it if needed.

    One upsert on the primary key (MySQL ``INSERT ... ON DUPLICATE KEY UPDATE``): a second
    transaction claiming the same reference waits for the first to end, whether the first
    inserted the row or found it. The database decides, not an unlocked read; and the key does
    not depend on the warehouses sourcing picks, which may differ between the two calls. Under
    READ COMMITTED (our MySQL setting) the reservations read after the wait include the
    winner's. Rows are upserted in reference order, so two batches do not deadlock.
    """
    now = timezone.now()
    target = {"unique_fields": ["reference"]} if connection.features.supports_update_conflicts_with_target else {}
    ReservationClaim.objects.bulk_create(
        [ReservationClaim(reference=reference, claimed_at=now) for reference in sorted(set(references))],
        update_conflicts=True,
        update_fields=["claimed_at"],
        **target,
    )


def _raise_unusable_skus(needs: dict[int, int]) -> dict[int, str]:
    """A short reservation's better answer, when there is one: a SKU that does not exist
    (404 ``sku_not_found``) or is no longer sold (422 ``sku_inactive``). Else the SKUs' codes."""
    wanted = set(needs)
    rows = {
        pk: (code, active)
        for pk, code, active in Sku.objects.filter(pk__in=wanted).values_list("pk", "code", "is_active")
    }
    unknown = sorted(wanted - set(rows))
    if unknown:
        raise NotFound(
            InventoryErrorCode.SKU_NOT_FOUND,
            _("These SKUs do not exist: %(ids)s.") % {"ids": ", ".join(map(str, unknown))},
            {"sku_ids": unknown},
        )
    inactive = sorted(code for code, active in rows.values() if not active)
    if inactive:
        raise Unprocessable(
            InventoryErrorCode.SKU_INACTIVE,
            _("These SKUs are no longer sold: %(skus)s.") % {"skus": ", ".join(inactive)},
            {"sku_codes": inactive},
        )
    return {pk: code for pk, (code, _active) in rows.items()}


def reservation_claims_purge(*, older_than: timedelta, batch_size: int = 5000) -> int:
    """Delete claim rows last claimed before ``older_than`` ago; returns how many.

    A claim is only a lock for simultaneous first reservations of a reference: long after,
    nothing waits on it, and a later reservation of the same reference upserts it again.
    Batched by primary key, so no statement holds many locks; safe to run twice.
    """
    cutoff = timezone.now() - older_than
    deleted = 0
    while True:
        batch = list(
            ReservationClaim.objects.filter(claimed_at__lt=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not batch:
            return deleted
        deleted += ReservationClaim.objects.filter(pk__in=batch, claimed_at__lt=cutoff).delete()[0]


def _stock_facts(stock_ids: Iterable[int]) -> dict[int, tuple[int, int, bool, bool]]:
    """stock id -> (sku_id, warehouse_id, sku is hot, warehouse sells online)."""
    rows = Stock.objects.filter(pk__in=list(stock_ids)).values_list(
        "pk", "sku_id", "warehouse_id", "sku__is_hot", "warehouse__is_active", "warehouse__accepts_online_orders"
    )
    return {pk: (sku_id, wh, hot, active and online) for pk, sku_id, wh, hot, active, online in rows}


@retry_on_deadlock
def stock_release(*, reference: str, operator: str, line_references: Sequence[str] | None = None) -> int:
    """Release the active reservations of ``reference`` (or only of ``line_references``).

    Returns the number of units released; 0 when nothing was held (a repeated call).
    """
    if line_references is None:
        gate_forget(reference)
    with transaction.atomic():
        held = Reservation.objects.select_for_update().filter(reference=reference, status=Reservation.Status.ACTIVE)
        if line_references is not None:
            held = held.filter(line_reference__in=list(line_references))
        rows = list(held.order_by("id").values_list("pk", "stock_id", "quantity"))
        if not rows:
            return 0
        deltas: dict[int, int] = defaultdict(int)
        for _pk, stock_id, quantity in rows:
            deltas[stock_id] -= quantity
        now = timezone.now()
        Reservation.objects.filter(pk__in=[pk for pk, _s, _q in rows]).update(
            status=Reservation.Status.RELEASED, updated_at=now
        )
        amount = _per_row(deltas)
        Stock.objects.filter(pk__in=list(deltas)).update(reserved=F("reserved") + amount, updated_at=now)
        StockMovement.objects.bulk_create(
            _movements(deltas, reason=StockMovement.Reason.RELEASE, reference=reference, operator=operator)
        )
        facts = _stock_facts(deltas)
        publish_stock_changed(
            reference=reference,
            sku_ids=[f[0] for f in facts.values()],
            warehouse_ids=[f[1] for f in facts.values()],
        )
        shift_gate_on_commit(
            _gated(((pk, f[0], f[2], f[3]) for pk, f in facts.items()), {pk: -n for pk, n in deltas.items()})
        )
        return -sum(deltas.values())


def _check_allocations(allocations: Sequence[Allocation]) -> list[Allocation]:
    allocations = list(allocations)
    for allocation in allocations:
        check_quantity(allocation.quantity)
    return allocations


@retry_on_deadlock
def stock_consume(*, reference: str, allocations: Sequence[Allocation], operator: str, consume_reference: str) -> None:
    """Ship reserved goods: on_hand and reserved both go down by each allocation.

    Idempotent by ``consume_reference`` (the fulfillment number), which the ``ship``
    movements carry. Raises ``Conflict`` (``reservation_not_found``) when an allocation is
    not held by ``reference``; then nothing changes.
    """
    allocations = _check_allocations(allocations)
    with transaction.atomic():
        held = list(
            Reservation.objects.select_for_update()
            .filter(
                reference=reference,
                status=Reservation.Status.ACTIVE,
                line_reference__in={a.line_reference for a in allocations},
            )
            .order_by("id")
        )
        if StockMovement.objects.filter(reason=StockMovement.Reason.SHIP, reference=consume_reference).exists():
            return
        facts = _stock_facts({r.stock_id for r in held})
        place = {(f[0], f[1]): pk for pk, f in facts.items()}
        left = {r.pk: r.quantity for r in held}
        deltas: dict[int, int] = defaultdict(int)
        for allocation in allocations:
            stock_id = place.get((allocation.sku_id, allocation.warehouse_id))
            wanted = allocation.quantity
            for reservation in held:
                if (
                    wanted
                    and reservation.stock_id == stock_id
                    and reservation.line_reference == allocation.line_reference
                ):
                    take = min(left[reservation.pk], wanted)
                    if take:
                        left[reservation.pk] -= take
                        wanted -= take
            if wanted:
                raise Conflict(
                    InventoryErrorCode.RESERVATION_NOT_FOUND,
                    _("%(reference)s holds no reservation for line %(line)s of SKU %(sku)s in that warehouse.")
                    % {"reference": reference, "line": allocation.line_reference, "sku": allocation.sku_id},
                    {"line_reference": allocation.line_reference, "sku_id": allocation.sku_id, "missing": wanted},
                )
            deltas[stock_id] += allocation.quantity
        now = timezone.now()
        whole: list[int] = []
        split: list[Reservation] = []
        for reservation in held:
            used = reservation.quantity - left[reservation.pk]
            if used and not left[reservation.pk]:
                whole.append(reservation.pk)
            elif used:
                Reservation.objects.filter(pk=reservation.pk).update(quantity=left[reservation.pk], updated_at=now)
                split.append(
                    Reservation(
                        reference=reference,
                        line_reference=reservation.line_reference,
                        stock_id=reservation.stock_id,
                        quantity=used,
                        status=Reservation.Status.CONSUMED,
                    )
                )
        Reservation.objects.filter(pk__in=whole).update(status=Reservation.Status.CONSUMED, updated_at=now)
        Reservation.objects.bulk_create(split)
        amount = _per_row(deltas)
        Stock.objects.filter(pk__in=list(deltas)).update(
            on_hand=F("on_hand") - amount, reserved=F("reserved") - amount, updated_at=now
        )
        StockMovement.objects.bulk_create(
            [
                StockMovement(
                    stock_id=pk,
                    delta_on_hand=-n,
                    delta_reserved=-n,
                    reason=StockMovement.Reason.SHIP,
                    reference=consume_reference,
                    operator=operator,
                    note=reference,
                )
                for pk, n in sorted(deltas.items())
            ]
        )
        publish_stock_changed(
            reference=consume_reference,
            sku_ids=[facts[pk][0] for pk in deltas],
            warehouse_ids=[facts[pk][1] for pk in deltas],
        )


@retry_on_deadlock
def stock_reallocate(*, reference: str, allocations: Sequence[Allocation], operator: str) -> list[Allocation]:
    """Move the reservations of the lines in ``allocations`` to exactly ``allocations``.

    Each line keeps its SKU and quantity; only the warehouses change (staff re-routing an
    order, or a split decided by the orders app). All or nothing; a target warehouse that is
    short raises ``InsufficientStock``. Calling it again with the same allocations changes
    nothing. Returns every active allocation of ``reference``.
    """
    allocations = _check_allocations(allocations)
    with transaction.atomic():
        held = list(
            Reservation.objects.select_for_update()
            .filter(
                reference=reference,
                status=Reservation.Status.ACTIVE,
                line_reference__in={a.line_reference for a in allocations},
            )
            .order_by("id")
        )
        facts = _stock_facts({r.stock_id for r in held})
        current: Counter = Counter()
        for r in held:
            current[(r.line_reference, facts[r.stock_id][0], facts[r.stock_id][1])] += r.quantity
        target: Counter = Counter()
        for a in allocations:
            target[(a.line_reference, a.sku_id, a.warehouse_id)] += a.quantity
        if current == target:
            return reservations_for(reference)
        if _line_totals(current) != _line_totals(target):
            raise Unprocessable(
                InventoryErrorCode.REALLOCATION_MISMATCH,
                _("A reallocation must keep each line's SKU and quantity."),
                {"held": _describe(current), "requested": _describe(target)},
            )
        warehouse_ids = {wh for _l, _s, wh in target}
        active = set(Warehouse.objects.filter(pk__in=warehouse_ids, is_active=True).values_list("pk", flat=True))
        if warehouse_ids - active:
            raise Unprocessable(
                InventoryErrorCode.WAREHOUSE_INACTIVE,
                _("Stock can only be reserved in active warehouses."),
                {"warehouse_ids": sorted(warehouse_ids - active)},
            )
        targets = {
            (s.sku_id, s.warehouse_id): s
            for s in Stock.objects.filter(
                sku_id__in={s for _l, s, _w in target}, warehouse_id__in=warehouse_ids
            ).select_related("sku")
        }
        needed: Counter = Counter()
        for (_line, sku_id, wh), quantity in target.items():
            needed[(sku_id, wh)] += quantity
        missing = [key for key in needed if key not in targets]
        if missing:
            raise insufficient_stock([Shortage(sku_id=s, requested=needed[(s, w)], available=0) for s, w in missing])
        deltas: dict[int, int] = defaultdict(int)
        for r in held:
            deltas[r.stock_id] -= r.quantity
        for key, quantity in needed.items():
            deltas[targets[key].pk] += quantity
        deltas = {pk: n for pk, n in deltas.items() if n}
        if deltas and _add_reserved(deltas) != len(deltas):
            fresh = {s.pk: s for s in Stock.objects.filter(pk__in=list(deltas))}
            raise insufficient_stock(
                [
                    Shortage(sku_id=fresh[pk].sku_id, requested=n, available=fresh[pk].available)
                    for pk, n in deltas.items()
                    if n > 0 and fresh[pk].available < n
                ]
            )
        Reservation.objects.filter(pk__in=[r.pk for r in held]).update(
            status=Reservation.Status.RELEASED, updated_at=timezone.now()
        )
        Reservation.objects.bulk_create(
            [
                Reservation(
                    reference=reference, line_reference=line, stock_id=targets[(sku_id, wh)].pk, quantity=quantity
                )
                for (line, sku_id, wh), quantity in target.items()
            ]
        )
        StockMovement.objects.bulk_create(
            [
                StockMovement(
                    stock_id=pk,
                    delta_reserved=n,
                    reason=StockMovement.Reason.RESERVE if n > 0 else StockMovement.Reason.RELEASE,
                    reference=reference,
                    operator=operator,
                    note="reallocate",
                )
                for pk, n in sorted(deltas.items())
            ]
        )
        all_facts = _stock_facts(deltas)
        publish_stock_changed(
            reference=reference,
            sku_ids=[f[0] for f in all_facts.values()],
            warehouse_ids=[f[1] for f in all_facts.values()],
        )
        return reservations_for(reference)


def stock_resource(
    *,
    reference: str,
    requests: Sequence[StockRequest],
    destination: Destination | None,
    warehouse_ids: Sequence[int] | None = None,
    operator: str,
) -> list[Allocation]:
    """Source the held lines of ``reference`` again and move its reservations to the new plan.

    For a reference whose warehouses no longer suit it (one was deactivated, or the delivery
    address moved to another region): sourcing runs as for a new reservation, with the
    units the reference already holds counted as available where they are. The move is
    ``stock_reallocate``: all or nothing and ledgered; the same plan again changes nothing.
    Raises ``InsufficientStock`` naming every short SKU when no plan covers the lines; then
    nothing changes. Returns every active allocation of ``reference``.
    """
    requests = _check_requests(requests)
    with transaction.atomic():
        held = (
            Reservation.objects.select_for_update()
            .filter(
                reference=reference,
                status=Reservation.Status.ACTIVE,
                line_reference__in={r.line_reference for r in requests},
            )
            .order_by("id")
            .values_list("stock_id", "quantity")
        )
        own: Counter = Counter()
        for stock_id, quantity in held:
            own[stock_id] += quantity
        stocks = candidate_stocks(needs_of(requests), None if warehouse_ids is None else list(warehouse_ids))
        for stock in stocks:
            stock.reserved -= own.get(stock.pk, 0)
        try:
            packages = plan_packages(requests=requests, stocks=stocks, destination=destination)
        except NoPlan as exc:
            raise insufficient_stock(exc.shortages) from None
        return stock_reallocate(
            reference=reference,
            allocations=[a for package in packages for a in package.allocations],
            operator=operator,
        )


def _line_totals(allocations: Counter) -> Counter:
    totals: Counter = Counter()
    for (line, sku_id, _wh), quantity in allocations.items():
        totals[(line, sku_id)] += quantity
    return totals


def _describe(allocations: Counter) -> list[dict]:
    return [
        {"line_reference": line, "sku_id": sku_id, "warehouse_id": wh, "quantity": quantity}
        for (line, sku_id, wh), quantity in sorted(allocations.items())
    ]
