"""Sourcing (寻源): which warehouses ship an order.

1. One warehouse that can ship every line, nearest first: same province, then same region,
   then elsewhere; ties go to the lower ``priority`` number, then the code.
2. Otherwise the fewest packages: the smallest set of warehouses whose stock together covers
   every SKU, found exactly by trying every set of 1, 2, ... warehouses. Among sets of the
   same size, one where each SKU comes whole from one warehouse wins, then the nearest
   (the ranks above). A SKU no single chosen warehouse holds whole is taken from the chosen
   ones nearest first.
3. With more than ``MAX_EXACT_CANDIDATES`` warehouses holding any of the SKUs the exact
   search is too costly: each SKU whole from one warehouse (up to ``MAX_WHOLE_PACKAGES``),
   else split greedily, largest supplier first.

Only active warehouses that accept online orders take part (``candidate_stocks``). The
planner itself is pure: ``plan_packages`` works on stock rows already read.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import combinations

from apps.inventory.domain import Allocation, Destination, InsufficientStock, Package, Shortage, StockRequest
from apps.inventory.models import Sku, Stock, Warehouse
from apps.inventory.regions import province_key, region_for

MAX_EXACT_CANDIDATES = 12
MAX_WHOLE_PACKAGES = 4
MAX_WHOLE_CANDIDATES = 24


class NoPlan(Exception):
    """The candidates cannot cover the request; ``shortages`` names every short SKU."""

    def __init__(self, shortages: list[Shortage]):
        super().__init__(shortages)
        self.shortages = shortages


def nearness(warehouse: Warehouse, destination: Destination | None) -> int:
    """0 same province, 1 same region, 2 elsewhere (or no destination)."""
    if destination is None or not destination.province:
        return 2
    if province_key(warehouse.province) == province_key(destination.province):
        return 0
    region = region_for(destination.province)
    if region and (warehouse.region or region_for(warehouse.province)) == region:
        return 1
    return 2


def needs_of(requests: Iterable[StockRequest]) -> dict[int, int]:
    """Quantity per SKU, the same SKU on several lines counted together (first-seen order)."""
    needs: dict[int, int] = {}
    for request in requests:
        needs[request.sku_id] = needs.get(request.sku_id, 0) + request.quantity
    return needs


def candidate_stocks(sku_ids: Iterable[int], warehouse_ids: Iterable[int] | None = None):
    """Stock rows sourcing may use, with warehouse and SKU loaded (one query)."""
    qs = Stock.objects.filter(
        sku_id__in=list(sku_ids), warehouse__is_active=True, warehouse__accepts_online_orders=True
    ).select_related("warehouse", "sku")
    if warehouse_ids is not None:
        qs = qs.filter(warehouse_id__in=list(warehouse_ids))
    return list(qs.order_by("id"))


def warehouses_to_leave(*, warehouse_ids: Iterable[int], destination: Destination | None) -> tuple[set[int], set[int]]:
    """Among ``warehouse_ids``: those that no longer take online orders (inactive or not
    online), and those outside the destination's region (one query)."""
    unsellable: set[int] = set()
    far: set[int] = set()
    for warehouse in Warehouse.objects.filter(pk__in=list(warehouse_ids)):
        if not (warehouse.is_active and warehouse.accepts_online_orders):
            unsellable.add(warehouse.pk)
        if nearness(warehouse, destination) == 2:
            far.add(warehouse.pk)
    return unsellable, far


def warehouses_to_leave_many(
    *, items: dict[str, tuple[Iterable[int], Destination | None]]
) -> dict[str, tuple[set[int], set[int]]]:
    """``warehouses_to_leave`` for many (warehouse ids, destination) pairs, by key (one query)."""
    ids = {warehouse_id for warehouse_ids, _destination in items.values() for warehouse_id in warehouse_ids}
    warehouses = {warehouse.pk: warehouse for warehouse in Warehouse.objects.filter(pk__in=ids)} if ids else {}
    found = {}
    for key, (warehouse_ids, destination) in items.items():
        chosen = [warehouses[pk] for pk in warehouse_ids if pk in warehouses]
        found[key] = (
            {w.pk for w in chosen if not (w.is_active and w.accepts_online_orders)},
            {w.pk for w in chosen if nearness(w, destination) == 2},
        )
    return found


def plan_packages(
    *, requests: Sequence[StockRequest], stocks: Sequence[Stock], destination: Destination | None
) -> list[Package]:
    """The packages that ship ``requests`` from ``stocks``; raises ``NoPlan`` when short."""
    needs = needs_of(requests)
    warehouses: dict[int, Warehouse] = {}
    available: dict[int, dict[int, int]] = defaultdict(dict)
    totals: dict[int, int] = defaultdict(int)
    for stock in stocks:
        if stock.available > 0:
            warehouses[stock.warehouse_id] = stock.warehouse
            available[stock.warehouse_id][stock.sku_id] = stock.available
            totals[stock.sku_id] += stock.available
    shortages = [
        Shortage(sku_id=sku_id, requested=qty, available=totals[sku_id])
        for sku_id, qty in needs.items()
        if totals[sku_id] < qty
    ]
    if shortages:
        raise NoPlan(shortages)

    def rank(warehouse_id: int) -> tuple:
        warehouse = warehouses[warehouse_id]
        return (nearness(warehouse, destination), warehouse.priority, warehouse.code)

    ranked = sorted(warehouses, key=rank)
    useful = [w for w in ranked if any(available[w].get(sku_id, 0) for sku_id in needs)]
    if len(useful) <= MAX_EXACT_CANDIDATES:
        portions = _fewest(needs, available, useful, rank)
    else:
        portions = _whole_skus(needs, available, ranked, rank) or _split(needs, available, ranked)
    return _packages(requests, portions, rank)


def _fewest(needs, available, useful, rank) -> dict[int, list[tuple[int, int]]]:
    """The portions from the smallest set of ``useful`` warehouses that covers ``needs``.

    ``plan_packages`` checked that all of them together cover it, so a set is always found.
    """
    for size in range(1, len(useful) + 1):
        best = None
        for combo in combinations(useful, size):
            if any(sum(available[w].get(sku_id, 0) for w in combo) < qty for sku_id, qty in needs.items()):
                continue
            split = any(all(available[w].get(sku_id, 0) < qty for w in combo) for sku_id, qty in needs.items())
            score = (split, tuple(sorted(rank(w) for w in combo)))
            if best is None or score < best[0]:
                best = (score, combo)
        if best is not None:
            return _portions(needs, available, sorted(best[1], key=rank))
    raise AssertionError("the warehouses together cover the needs")


def _portions(needs, available, chosen) -> dict[int, list[tuple[int, int]]]:
    """Each SKU whole from the nearest chosen warehouse that holds it all, else nearest first."""
    portions: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for sku_id, qty in needs.items():
        whole = next((w for w in chosen if available[w].get(sku_id, 0) >= qty), None)
        if whole is not None:
            portions[sku_id].append((whole, qty))
            continue
        for warehouse_id in chosen:
            take = min(available[warehouse_id].get(sku_id, 0), qty)
            if take:
                portions[sku_id].append((warehouse_id, take))
                qty -= take
    return portions


def _covers(warehouse_id: int, needs: dict[int, int], available: dict[int, dict[int, int]]) -> set[int]:
    stock = available[warehouse_id]
    return {sku_id for sku_id, qty in needs.items() if stock.get(sku_id, 0) >= qty}


def _whole_skus(needs, available, ranked, rank) -> dict[int, list[tuple[int, int]]] | None:
    """Each SKU whole from one warehouse, over the fewest (then nearest) warehouses."""
    covers = {warehouse_id: _covers(warehouse_id, needs, available) for warehouse_id in ranked}
    useful = [warehouse_id for warehouse_id in ranked if covers[warehouse_id]][:MAX_WHOLE_CANDIDATES]
    wanted = set(needs)
    for size in range(1, min(MAX_WHOLE_PACKAGES, len(useful)) + 1):
        best = None
        for combo in combinations(useful, size):
            if set().union(*(covers[w] for w in combo)) != wanted:
                continue
            score = tuple(sorted(rank(w) for w in combo))
            if best is None or score < best[0]:
                best = (score, combo)
        if best is not None:
            chosen = sorted(best[1], key=rank)
            return {sku_id: [(next(w for w in chosen if sku_id in covers[w]), qty)] for sku_id, qty in needs.items()}
    return None


def _split(needs, available, ranked) -> dict[int, list[tuple[int, int]]]:
    """Greedy: the warehouse that supplies the most remaining units first."""
    remaining = dict(needs)
    portions: dict[int, list[tuple[int, int]]] = defaultdict(list)
    while any(remaining.values()):
        warehouse_id = max(
            ranked,
            key=lambda w: (
                sum(min(available[w].get(s, 0), q) for s, q in remaining.items()),
                -ranked.index(w),
            ),
        )
        for sku_id, qty in remaining.items():
            take = min(available[warehouse_id].get(sku_id, 0), qty)
            if take:
                portions[sku_id].append((warehouse_id, take))
                remaining[sku_id] = qty - take
                available[warehouse_id][sku_id] -= take
    return portions


def _packages(requests, portions, rank) -> list[Package]:
    """Hand each line its quantity from its SKU's portions, grouped per warehouse."""
    left = {sku_id: [list(p) for p in parts] for sku_id, parts in portions.items()}
    by_warehouse: dict[int, list[Allocation]] = defaultdict(list)
    for request in requests:
        wanted = request.quantity
        for part in left[request.sku_id]:
            if not wanted:
                break
            take = min(part[1], wanted)
            if take:
                by_warehouse[part[0]].append(
                    Allocation(
                        line_reference=request.line_reference,
                        sku_id=request.sku_id,
                        warehouse_id=part[0],
                        quantity=take,
                    )
                )
                part[1] -= take
                wanted -= take
    return [Package(warehouse_id=w, allocations=tuple(by_warehouse[w])) for w in sorted(by_warehouse, key=rank)]


def insufficient_stock(shortages: list[Shortage]) -> InsufficientStock:
    """The API error for ``shortages``, with each SKU's code (one query, on the refusal path)."""
    codes = dict(Sku.objects.filter(pk__in=[s.sku_id for s in shortages]).values_list("pk", "code"))
    return InsufficientStock(
        [
            Shortage(sku_id=s.sku_id, requested=s.requested, available=s.available, sku_code=codes.get(s.sku_id, ""))
            for s in shortages
        ]
    )


def sourcing_plan(
    *, requests: Sequence[StockRequest], destination: Destination | None, warehouse_ids: Sequence[int] | None = None
) -> list[Package]:
    """The packages sourcing would choose now (a pure read; nothing is reserved).

    Raises ``InsufficientStock`` naming every short SKU when no plan can cover the lines.
    """
    requests = list(requests)
    try:
        return plan_packages(
            requests=requests,
            stocks=candidate_stocks(needs_of(requests), warehouse_ids),
            destination=destination,
        )
    except NoPlan as exc:
        raise insufficient_stock(exc.shortages) from None
