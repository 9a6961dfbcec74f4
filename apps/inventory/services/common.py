"""Helpers every inventory service shares: row locks, checks, the outbox event."""

import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils.translation import gettext as _

from apps.core.exceptions import NotFound, Unprocessable
from apps.core.outbox import outbox_publish
from apps.inventory.error_codes import InventoryErrorCode
from apps.inventory.gate import gate_shift
from apps.inventory.models import Sku, Stock, Warehouse

logger = logging.getLogger(__name__)


def check_quantity(quantity: int, *, allow_zero: bool = False) -> int:
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < (0 if allow_zero else 1):
        raise Unprocessable(
            InventoryErrorCode.INVALID_QUANTITY,
            _("Quantity must be a whole number of at least %(min)d.") % {"min": 0 if allow_zero else 1},
            {"quantity": quantity},
        )
    return quantity


def require_sku(sku_id: int) -> Sku:
    sku = Sku.objects.filter(pk=sku_id).first()
    if sku is None:
        raise NotFound(InventoryErrorCode.SKU_NOT_FOUND, _("SKU %(id)s does not exist.") % {"id": sku_id})
    return sku


def require_warehouse(warehouse_id: int) -> Warehouse:
    warehouse = Warehouse.objects.filter(pk=warehouse_id).first()
    if warehouse is None:
        raise NotFound(
            InventoryErrorCode.WAREHOUSE_NOT_FOUND, _("Warehouse %(id)s does not exist.") % {"id": warehouse_id}
        )
    return warehouse


def lock_stock(*, sku_id: int, warehouse_id: int, create: bool = True) -> Stock | None:
    """The stock row of a SKU in a warehouse, locked until the transaction ends.

    With ``create`` a missing row is created first (a receipt into a new location); the
    unique constraint makes concurrent creators agree on one row.
    """
    stock = Stock.objects.select_for_update().filter(sku_id=sku_id, warehouse_id=warehouse_id).first()
    if stock is None and create:
        require_sku(sku_id)
        require_warehouse(warehouse_id)
        Stock.objects.get_or_create(sku_id=sku_id, warehouse_id=warehouse_id)
        stock = Stock.objects.select_for_update().get(sku_id=sku_id, warehouse_id=warehouse_id)
    return stock


def publish_stock_changed(*, reference: str, sku_ids: Iterable[int], warehouse_ids: Iterable[int]) -> None:
    """One ``stock.changed`` event per service call (channels push stock to platforms)."""
    outbox_publish(
        topic="stock.changed",
        aggregate_type="stock",
        aggregate_id=reference,
        payload={"sku_ids": sorted(set(sku_ids)), "warehouse_ids": sorted(set(warehouse_ids))},
    )


def shift_gate_on_commit(deltas: dict[int, int]) -> None:
    """Move the hot-SKU counters by the change in available once the transaction commits."""
    deltas = {sku_id: delta for sku_id, delta in deltas.items() if delta}
    if deltas:
        transaction.on_commit(lambda: gate_shift(deltas))
