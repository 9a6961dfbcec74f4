"""Reservations: reserve, release, consume (on shipment) and reallocate.

Every stock change here is one conditional UPDATE over all touched rows
(``WHERE id IN (...) AND on_hand >= reserved + n``, n per row by CASE), which InnoDB applies
in primary-key order, so two orders touching the same SKUs in opposite line order lock them
in the same order. The row count tells whether every row passed its guard.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.db import retry_on_deadlock
from apps.core.exceptions import Conflict, NotFound, Unprocessable
from apps.inventory.domain import Allocation, Destination, Shortage, StockRequest
from apps.inventory.error_codes import InventoryErrorCode
from apps.inventory.gate import gate_admit, gate_forget, gate_give_back, gate_shift
from apps.inventory.models import Reservation, ReservationClaim, Sku, Stock, StockMovement, Warehouse
from apps.inventory.selectors import reservations_for
from apps.inventory.services.common import (
    check_quantity,
    publish_stock_changed,
    shift_gate_on_commit,
)
from apps.inventory.sourcing import NoPlan, candidate_stocks, insufficient_stock, needs_of, plan_packages

# How often a reservation re-plans when a competitor took the stock between read and UPDATE.
RACE_ATTEMPTS = 3


class _Raced(Exception):
    """The conditional UPDATE matched fewer rows than planned: re-read and plan again."""


def _per_row(deltas: dict[int, int]) -> Case:
    return Case(*[When(pk=pk, then=Value(n)) for pk, n in deltas.items()], output_field=IntegerField())


def _add_reserved(deltas: dict[int, int]) -> int:
    """``reserved += n`` on every row where it still fits under on_hand; returns rows changed."""
    amount = _per_row(deltas)
    return Stock.objects.filter(pk__in=list(deltas), on_hand__gte=F("reserved") + amount).update(
        reserved=F("reserved") + amount, updated_at=timezone.now()
    )


def reservation_rows(reference: str, allocations: Iterable[Allocation], by_place: dict) -> list[Reservation]:
    """Unsaved reservations of ``reference``; ``by_place`` maps (sku_id, warehouse_id) to its stock."""
    return [
        Reservation(
            reference=reference,
            line_reference=a.line_reference,
            stock_id=by_place[(a.sku_id, a.warehouse_id)].pk,
            quantity=a.quantity,
        )
        for a in allocations
    ]


def _movements(deltas: dict[int, int], **fields) -> list[StockMovement]:
    return [StockMovement(stock_id=pk, delta_reserved=n, **fields) for pk, n in sorted(deltas.items()) if n]


def _gated(stock_rows: Iterable[tuple[int, int, bool, bool]], deltas: dict[int, int]) -> dict[int, int]:
    """Per hot SKU, the change in sellable units from ``deltas`` keyed by stock id.

    ``stock_rows`` yields ``(stock_id, sku_id, is_hot, sellable)``.
    """
    shift: dict[int, int] = defaultdict(int)
    for stock_id, sku_id, is_hot, sellable in stock_rows:
        if is_hot and sellable:
            shift[sku_id] += deltas.get(stock_id, 0)
    return shift


def _check_requests(requests: Sequence[StockRequest]) -> list[StockRequest]:
    requests = list(requests)
    if not requests:
        raise Unprocessable(InventoryErrorCode.INVALID_QUANTITY, _("Nothing to reserve: no lines were given."))
    for request in requests:
        check_quantity(request.quantity)
    return requests


def stock_reserve(
    *,
    reference: str,
    requests: Sequence[StockRequest],
    destination: Destination | None = None,
    warehouse_ids: Sequence[int] | None = None,
    operator: str,
) -> list[Allocation]:
    """Reserve every line or none; sourcing picks the warehouses. Returns the allocations.

    Idempotent: when ``reference`` already holds active reservations they are returned
    unchanged, also to calls made at the same moment: each call first locks the reference's
    ``ReservationClaim`` row, so simultaneous calls run one after another and the later ones
    return the first one's allocations. Raises ``InsufficientStock`` naming every short SKU.
    Hot SKUs pass the Redis gate first (Redis only, no SQL); a reference the gate already
    admitted passes it again without taking the count twice, so a repeated call returns the
    first call's allocations even when that call took the last units. SQL on success, independent of
    the number of lines: the claim, the active reservations of the reference, the candidate
    stock, one UPDATE for all rows, the movements, the reservations and the outbox event (7);
    plus the outbox deliveries when a consumer subscribes to ``stock.changed`` (1), plus
    SAVEPOINT and RELEASE when called inside the caller's transaction (2). A repeated call
    runs 2 (+2).
    """
    requests = _check_requests(requests)
    admitted = gate_admit(needs_of(requests), reference=reference)
    try:
        allocations, created = _reserve(
            reference=reference,
            requests=requests,
            destination=destination,
            warehouse_ids=None if warehouse_ids is None else list(warehouse_ids),
            operator=operator,
        )
    except BaseException:
        gate_give_back(admitted, reference=reference)
        raise
    if not created:
        gate_shift(admitted)
    return allocations


@retry_on_deadlock
def _reserve(*, reference, requests, destination, warehouse_ids, operator) -> tuple[list[Allocation], bool]:
    for _attempt in range(RACE_ATTEMPTS):
        try:
            return _reserve_once(
                reference=reference,
                requests=requests,
                destination=destination,
                warehouse_ids=warehouse_ids,
                operator=operator,
            )
        except _Raced:
            continue
    needs = needs_of(requests)
    totals: dict[int, int] = defaultdict(int)
    for stock in candidate_stocks(needs, warehouse_ids):
        totals[stock.sku_id] += max(stock.available, 0)
    short = [Shortage(sku_id=s, requested=q, available=totals[s]) for s, q in needs.items() if totals[s] < q]
    raise insufficient_stock(short or [Shortage(sku_id=s, requested=q, available=totals[s]) for s, q in needs.items()])


def _reserve_once(*, reference, requests, destination, warehouse_ids, operator) -> tuple[list[Allocation], bool]:
    with transaction.atomic():
        _claim(reference)
        existing = reservations_for(reference)
        if existing:
            return existing, False
        needs = needs_of(requests)
        stocks = candidate_stocks(needs, warehouse_ids)
        inactive = sorted({s.sku.code for s in stocks if not s.sku.is_active})
        if inactive:
            raise Unprocessable(
                InventoryErrorCode.SKU_INACTIVE,
                _("These SKUs are no longer sold: %(skus)s.") % {"skus": ", ".join(inactive)},
                {"sku_codes": inactive},
            )
        try:
            packages = plan_packages(requests=requests, stocks=stocks, destination=destination)
        except NoPlan as exc:
            _raise_unknown_skus(needs)
            raise insufficient_stock(exc.shortages) from None
        by_place = {(s.sku_id, s.warehouse_id): s for s in stocks}
        allocations = [a for package in packages for a in package.allocations]
        deltas: dict[int, int] = defaultdict(int)
        for a in allocations:
            deltas[by_place[(a.sku_id, a.warehouse_id)].pk] += a.quantity
        if _add_reserved(deltas) != len(deltas):
            raise _Raced
        StockMovement.objects.bulk_create(
            _movements(deltas, reason=StockMovement.Reason.RESERVE, reference=reference, operator=operator)
        )
        Reservation.objects.bulk_create(reservation_rows(reference, allocations, by_place))
        publish_stock_changed(
            reference=reference,
            sku_ids=[a.sku_id for a in allocations],
            warehouse_ids=[a.warehouse_id for a in allocations],
        )
        return allocations, True


def _claim(reference: str) -> None:
    """Lock the claim row of ``reference`` until the transaction ends, creating it if needed.

    One upsert on the primary key (MySQL ``INSERT ... ON DUPLICATE KEY UPDATE``): a second
    transaction claiming the same reference waits for the first to end, whether the first
    inserted the row or found it. The database decides, not an unlocked read; and the key does
    not depend on the warehouses sourcing picks, which may differ between the two calls. Under
    READ COMMITTED (our MySQL setting) the reservations read after the wait include the
    winner's.
    """
    target = {"unique_fields": ["reference"]} if connection.features.supports_update_conflicts_with_target else {}
    ReservationClaim.objects.bulk_create(
        [ReservationClaim(reference=reference, claimed_at=timezone.now())],
        update_conflicts=True,
        update_fields=["claimed_at"],
        **target,
    )


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


def _raise_unknown_skus(sku_ids: Iterable[int]) -> None:
    wanted = set(sku_ids)
    unknown = sorted(wanted - set(Sku.objects.filter(pk__in=wanted).values_list("pk", flat=True)))
    if unknown:
        raise NotFound(
            InventoryErrorCode.SKU_NOT_FOUND,
            _("These SKUs do not exist: %(ids)s.") % {"ids": ", ".join(map(str, unknown))},
            {"sku_ids": unknown},
        )


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
