"""Reads of inventory that are more than one ``.get()``."""

import time
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F, Q, QuerySet, Sum, Value
from django.db.models.functions import Greatest
from django.utils.translation import gettext as _

from apps.core.exceptions import NotFound
from apps.inventory.domain import Allocation
from apps.inventory.error_codes import InventoryErrorCode
from apps.inventory.models import Reservation, ShopWarehouse, Sku, Stock, StockMovement, Transfer


def reservations_for(reference: str) -> list[Allocation]:
    """The active reservations of ``reference`` as allocations (one query)."""
    rows = (
        Reservation.objects.filter(reference=reference, status=Reservation.Status.ACTIVE)
        .order_by("id")
        .values_list("line_reference", "stock__sku_id", "stock__warehouse_id", "quantity")
    )
    return [
        Allocation(line_reference=line, sku_id=sku_id, warehouse_id=warehouse_id, quantity=quantity)
        for line, sku_id, warehouse_id, quantity in rows
    ]


def reservations_for_many(references: list[str]) -> dict[str, list[Allocation]]:
    """``reservations_for`` of many references (one query); a reference without any is absent."""
    rows = (
        Reservation.objects.filter(reference__in=references, status=Reservation.Status.ACTIVE)
        .order_by("id")
        .values_list("reference", "line_reference", "stock__sku_id", "stock__warehouse_id", "quantity")
    )
    found: dict[str, list[Allocation]] = {}
    for reference, line, sku_id, warehouse_id, quantity in rows:
        found.setdefault(reference, []).append(
            Allocation(line_reference=line, sku_id=sku_id, warehouse_id=warehouse_id, quantity=quantity)
        )
    return found


def sellable_stocks() -> QuerySet[Stock]:
    """Stock that online orders can be served from: active warehouses that accept them."""
    return Stock.objects.filter(warehouse__is_active=True, warehouse__accepts_online_orders=True)


def sellable_by_sku(sku_ids: list[int]) -> dict[int, int]:
    """Available units per SKU over active online warehouses (what the hot-SKU gate counts)."""
    if not sku_ids:
        return {}
    rows = (
        sellable_stocks()
        .filter(sku_id__in=sku_ids)
        .values("sku_id")
        .annotate(available=Sum(F("on_hand") - F("reserved")))
        .values_list("sku_id", "available")
    )
    return {sku_id: int(available or 0) for sku_id, available in rows}


def sku_stock_rows(*, sku: Sku) -> list[Stock]:
    """A SKU's stock in every active warehouse (what staff see)."""
    qs = Stock.objects.filter(sku=sku, warehouse__is_active=True).select_related("warehouse")
    return list(qs.order_by("warehouse__priority", "warehouse__code"))


def low_stock_to_alert() -> QuerySet[Stock]:
    """Rows at or below their threshold without an open alert."""
    return Stock.objects.filter(
        low_stock_alerted=False, on_hand__lte=F("reserved") + F("low_stock_threshold")
    ).select_related("sku", "warehouse")


def low_stock_recovered() -> QuerySet[Stock]:
    """Rows back above their threshold whose alert is still open."""
    return Stock.objects.filter(low_stock_alerted=True, on_hand__gt=F("reserved") + F("low_stock_threshold"))


@dataclass(frozen=True)
class LedgerMismatch:
    stock_id: int | None
    label: str
    problem: str
    expected: int
    actual: int


def ledger_mismatches() -> list[LedgerMismatch]:
    """Every place where stock rows disagree with the ledger, reservations or transfers.

    Per stock row: the sum of ``delta_on_hand`` equals ``on_hand``, the sum of
    ``delta_reserved`` equals ``reserved``, and active reservations add up to ``reserved``.
    Per transfer: one ``transfer_out`` of its quantity, and a ``transfer_in`` exactly when
    it was received (in-transit goods are on no shelf, only in the transfer).
    """
    ledger = {
        row["stock_id"]: row
        for row in StockMovement.objects.values("stock_id").annotate(
            on_hand=Sum("delta_on_hand"), reserved=Sum("delta_reserved")
        )
    }
    held = dict(
        Reservation.objects.filter(status=Reservation.Status.ACTIVE)
        .values("stock_id")
        .annotate(total=Sum("quantity"))
        .values_list("stock_id", "total")
    )
    found: list[LedgerMismatch] = []
    for stock in Stock.objects.select_related("sku", "warehouse").order_by("id").iterator(chunk_size=2000):
        label = f"{stock.sku.code}@{stock.warehouse.code}"
        sums = ledger.get(stock.pk, {"on_hand": 0, "reserved": 0})
        checks = (
            ("ledger on_hand", stock.on_hand, int(sums["on_hand"] or 0)),
            ("ledger reserved", stock.reserved, int(sums["reserved"] or 0)),
            ("active reservations", stock.reserved, int(held.get(stock.pk, 0))),
        )
        for problem, expected, actual in checks:
            if expected != actual:
                found.append(LedgerMismatch(stock.pk, label, problem, expected, actual))
    moved = {
        (row["reference"], row["reason"]): int(row["total"] or 0)
        for row in StockMovement.objects.filter(
            Q(reason=StockMovement.Reason.TRANSFER_OUT) | Q(reason=StockMovement.Reason.TRANSFER_IN)
        )
        .values("reference", "reason")
        .annotate(total=Sum("delta_on_hand"))
    }
    for transfer in Transfer.objects.order_by("id").iterator(chunk_size=2000):
        received = transfer.status == Transfer.Status.RECEIVED
        checks = (
            ("transfer out", -transfer.quantity, moved.get((transfer.reference, StockMovement.Reason.TRANSFER_OUT), 0)),
            (
                "transfer in",
                transfer.quantity if received else 0,
                moved.get((transfer.reference, StockMovement.Reason.TRANSFER_IN), 0),
            ),
        )
        for problem, expected, actual in checks:
            if expected != actual:
                found.append(LedgerMismatch(None, f"transfer {transfer.reference}", problem, expected, actual))
    return found


def sku_get_by_code(code: str) -> Sku:
    sku = Sku.objects.filter(code=code).first()
    if sku is None:
        raise NotFound(InventoryErrorCode.SKU_NOT_FOUND, _("SKU %(code)s does not exist.") % {"code": code})
    return sku


def reservable_by_sku(*, sku_ids: list[int], warehouse_ids: list[int] | None = None) -> dict[int, int]:
    """{sku_id: units a reservation could take}: what ``stock_reserve`` may use, i.e. active
    SKUs in active warehouses that accept online orders (only ``warehouse_ids`` when given),
    each stock row counted from 0 up. An inactive SKU, or one without such stock, has 0."""
    if not sku_ids:
        return {}
    stocks = sellable_stocks().filter(sku_id__in=sku_ids, sku__is_active=True)
    if warehouse_ids is not None:
        stocks = stocks.filter(warehouse_id__in=warehouse_ids)
    rows = stocks.values("sku_id").annotate(available=Sum(Greatest(F("on_hand") - F("reserved"), Value(0))))
    available = {sku_id: int(total or 0) for sku_id, total in rows.values_list("sku_id", "available")}
    return {sku_id: available.get(sku_id, 0) for sku_id in sku_ids}


def sku_sellable_stock_rows(*, sku: Sku, warehouse_ids: list[int] | None = None) -> list[Stock]:
    """A SKU's stock that sourcing could reserve for an online order: active warehouses that
    accept online orders (only ``warehouse_ids`` when given); none for an inactive SKU."""
    if not sku.is_active:
        return []
    qs = sellable_stocks().filter(sku=sku).select_related("warehouse")
    if warehouse_ids is not None:
        qs = qs.filter(warehouse_id__in=warehouse_ids)
    return list(qs.order_by("warehouse__priority", "warehouse__code"))


# Per process: shop id -> (read at, its warehouse ids). Changes made in this process drop the
# entry at once (``shop_warehouses_forget``, connected in ``InventoryConfig.ready``); other
# processes see them within ``SHOP_WAREHOUSES_CACHE_SECONDS``.
_shop_warehouses: dict[int, tuple[float, list[int]]] = {}


def shops_warehouse_ids(shop_ids: set[int]) -> dict[int, list[int]]:
    """Per shop, the warehouses it ships from (a shop listing none: any warehouse); at most
    one query, none when every shop is cached."""
    if not shop_ids:
        return {}
    now = time.monotonic()
    ttl = settings.SHOP_WAREHOUSES_CACHE_SECONDS
    found: dict[int, list[int]] = {}
    missing = set()
    for shop_id in shop_ids:
        cached = _shop_warehouses.get(shop_id)
        if cached is not None and now - cached[0] < ttl:
            found[shop_id] = cached[1]
        else:
            missing.add(shop_id)
    if missing:
        read: dict[int, list[int]] = defaultdict(list)
        for shop_id, warehouse_id in ShopWarehouse.objects.filter(shop_id__in=missing).values_list(
            "shop_id", "warehouse_id"
        ):
            read[shop_id].append(warehouse_id)
        for shop_id in missing:
            found[shop_id] = sorted(read.get(shop_id, []))
            if ttl > 0:
                _shop_warehouses[shop_id] = (now, found[shop_id])
    return found


def shop_warehouses_forget(**kwargs) -> None:
    """Signal receiver: a shop or its warehouse list changed; drop what this process cached."""
    _shop_warehouses.clear()
