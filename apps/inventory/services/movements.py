"""Stock that enters, leaves or is counted: stocktake, goods receipt, returns, transfers.

Each service locks the stock row first and then looks for its own earlier movement (or
transfer) with the same reference, so a repeated or concurrent second call finds the first
one's work and changes nothing.
"""

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.db import retry_on_deadlock
from apps.core.exceptions import Conflict, NotFound, Unprocessable
from apps.inventory.domain import Inspection, Shortage
from apps.inventory.error_codes import InventoryErrorCode
from apps.inventory.gate import gate_enabled
from apps.inventory.models import Stock, StockMovement, Transfer
from apps.inventory.selectors import sellable_stocks
from apps.inventory.services.common import (
    check_quantity,
    lock_stock,
    publish_stock_changed,
    require_sku,
    require_warehouse,
    shift_gate_on_commit,
)
from apps.inventory.sourcing import insufficient_stock


def _done(stock: Stock, reason: str, reference: str) -> bool:
    return StockMovement.objects.filter(stock=stock, reason=reason, reference=reference).exists()


def _change_on_hand(
    stock: Stock, delta: int, *, reason: str, reference: str, operator: str, note: str = ""
) -> StockMovement:
    """``on_hand += delta`` on a locked row (never below reserved), with its movement."""
    if delta:
        changed = Stock.objects.filter(pk=stock.pk, on_hand__gte=F("reserved") - delta).update(
            on_hand=F("on_hand") + delta, updated_at=timezone.now()
        )
        if not changed:
            raise Conflict(
                InventoryErrorCode.BELOW_RESERVED,
                _("On hand cannot go below the %(reserved)d units reserved.") % {"reserved": stock.reserved},
                {"on_hand": stock.on_hand, "reserved": stock.reserved, "delta": delta},
            )
    movement = StockMovement.objects.create(
        stock=stock, delta_on_hand=delta, reason=reason, reference=reference, operator=operator, note=note[:255]
    )
    publish_stock_changed(reference=reference, sku_ids=[stock.sku_id], warehouse_ids=[stock.warehouse_id])
    if delta and gate_enabled() and sellable_stocks().filter(pk=stock.pk, sku__is_hot=True).exists():
        shift_gate_on_commit({stock.sku_id: delta})
    stock.refresh_from_db(fields=["on_hand", "reserved", "updated_at"])
    return movement


@retry_on_deadlock
def stock_adjust(
    *,
    sku_id: int,
    warehouse_id: int,
    reference: str,
    operator: str,
    counted: int | None = None,
    delta: int | None = None,
    note: str = "",
) -> Stock:
    """Stocktake (盘点): set on_hand to ``counted``, or move it by ``delta``; never below reserved.

    Exactly one of ``counted`` and ``delta``. A count equal to on_hand still records a
    movement (the count happened). Idempotent per reference and stock row.
    """
    if (counted is None) == (delta is None):
        raise Unprocessable(InventoryErrorCode.INVALID_QUANTITY, _("Give either the counted quantity or a change."))
    if counted is not None:
        check_quantity(counted, allow_zero=True)
    elif not isinstance(delta, int) or isinstance(delta, bool):
        raise Unprocessable(InventoryErrorCode.INVALID_QUANTITY, _("The change must be a whole number."))
    with transaction.atomic():
        stock = lock_stock(sku_id=sku_id, warehouse_id=warehouse_id)
        if _done(stock, StockMovement.Reason.ADJUST, reference):
            return stock
        change = counted - stock.on_hand if counted is not None else delta
        _change_on_hand(
            stock, change, reason=StockMovement.Reason.ADJUST, reference=reference, operator=operator, note=note
        )
        return stock


@retry_on_deadlock
def stock_receive(
    *, sku_id: int, warehouse_id: int, quantity: int, reference: str, operator: str, note: str = ""
) -> Stock:
    """Goods receipt (入库): on_hand goes up. Idempotent per reference and stock row."""
    check_quantity(quantity)
    with transaction.atomic():
        stock = lock_stock(sku_id=sku_id, warehouse_id=warehouse_id)
        if not _done(stock, StockMovement.Reason.RECEIVE, reference):
            _change_on_hand(
                stock, quantity, reason=StockMovement.Reason.RECEIVE, reference=reference, operator=operator, note=note
            )
        return stock


@retry_on_deadlock
def stock_return_to_stock(
    *,
    sku_id: int,
    warehouse_id: int,
    quantity: int,
    inspection: Inspection | str,
    reference: str,
    operator: str,
    note: str = "",
) -> StockMovement:
    """After-sales return: sellable goods go back on hand; damaged ones are recorded only.

    Either way a ``return`` movement is written (delta 0 and a "damaged" note for damaged
    goods), so the ledger shows what came back. Idempotent per reference and stock row:
    pass one reference per returned line (e.g. ``"<aftersale_no>:<line>"``).
    """
    check_quantity(quantity)
    try:
        verdict = Inspection(inspection)
    except ValueError:
        raise Unprocessable(
            InventoryErrorCode.INVALID_INSPECTION,
            _("Inspection must be one of: %(choices)s.") % {"choices": ", ".join(Inspection)},
            {"inspection": str(inspection)},
        ) from None
    with transaction.atomic():
        stock = lock_stock(sku_id=sku_id, warehouse_id=warehouse_id)
        earlier = StockMovement.objects.filter(
            stock=stock, reason=StockMovement.Reason.RETURN, reference=reference
        ).first()
        if earlier is not None:
            return earlier
        if verdict is Inspection.SELLABLE:
            return _change_on_hand(
                stock, quantity, reason=StockMovement.Reason.RETURN, reference=reference, operator=operator, note=note
            )
        return _change_on_hand(
            stock,
            0,
            reason=StockMovement.Reason.RETURN,
            reference=reference,
            operator=operator,
            note=f"damaged x{quantity} {note}".strip(),
        )


@retry_on_deadlock
def stock_transfer_ship(
    *,
    reference: str,
    sku_id: int,
    from_warehouse_id: int,
    to_warehouse_id: int,
    quantity: int,
    operator: str,
    note: str = "",
) -> Transfer:
    """Transfer out (调拨出库): available units leave the source now and travel in the transfer.

    Idempotent by ``reference``: the same reference returns the existing transfer; a
    reference already used for a different transfer is refused (``reference_conflict``).
    """
    check_quantity(quantity)
    if from_warehouse_id == to_warehouse_id:
        raise Unprocessable(InventoryErrorCode.SAME_WAREHOUSE, _("A transfer needs two different warehouses."))
    require_sku(sku_id)
    require_warehouse(to_warehouse_id)
    require_warehouse(from_warehouse_id)
    with transaction.atomic():
        stock = lock_stock(sku_id=sku_id, warehouse_id=from_warehouse_id, create=False)
        existing = Transfer.objects.filter(reference=reference).first()
        if existing is not None:
            same = (existing.sku_id, existing.from_warehouse_id, existing.to_warehouse_id, existing.quantity) == (
                sku_id,
                from_warehouse_id,
                to_warehouse_id,
                quantity,
            )
            if not same:
                raise Conflict(
                    InventoryErrorCode.REFERENCE_CONFLICT,
                    _("Transfer %(reference)s already exists with other contents.") % {"reference": reference},
                )
            return existing
        if stock is None or stock.available < quantity:
            raise insufficient_stock(
                [Shortage(sku_id=sku_id, requested=quantity, available=stock.available if stock else 0)]
            )
        try:
            with transaction.atomic():
                transfer = Transfer.objects.create(
                    reference=reference,
                    sku_id=sku_id,
                    from_warehouse_id=from_warehouse_id,
                    to_warehouse_id=to_warehouse_id,
                    quantity=quantity,
                    operator=operator,
                    note=note[:255],
                )
        except IntegrityError:
            raise Conflict(
                InventoryErrorCode.REFERENCE_CONFLICT,
                _("Transfer %(reference)s already exists with other contents.") % {"reference": reference},
            ) from None
        _change_on_hand(
            stock,
            -quantity,
            reason=StockMovement.Reason.TRANSFER_OUT,
            reference=reference,
            operator=operator,
            note=note,
        )
        return transfer


@retry_on_deadlock
def stock_transfer_receive(*, reference: str, operator: str) -> Transfer:
    """Transfer in (调拨入库): the goods in transit arrive at the destination. Idempotent."""
    with transaction.atomic():
        transfer = Transfer.objects.select_for_update().filter(reference=reference).first()
        if transfer is None:
            raise NotFound(
                InventoryErrorCode.TRANSFER_NOT_FOUND,
                _("Transfer %(reference)s does not exist.") % {"reference": reference},
            )
        if transfer.status == Transfer.Status.RECEIVED:
            return transfer
        stock = lock_stock(sku_id=transfer.sku_id, warehouse_id=transfer.to_warehouse_id)
        _change_on_hand(
            stock,
            transfer.quantity,
            reason=StockMovement.Reason.TRANSFER_IN,
            reference=reference,
            operator=operator,
            note=transfer.note,
        )
        transfer.status = Transfer.Status.RECEIVED
        transfer.received_at = timezone.now()
        transfer.save(update_fields=["status", "received_at"])
        return transfer
