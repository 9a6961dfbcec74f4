"""Out of stock (缺货挂起): a paid order that finds no stock waits on hold instead of being lost.

An order the buyer has already paid on a platform must be accepted even when its SKUs are
short: it is created without a reservation and held with the reason ``out_of_stock``
(``details.shortages`` names the short SKUs). Releasing or re-auditing it reserves first;
while stock is still short it stays held. The beat job ``orders.retry_out_of_stock``
(``audit.orders_retry_out_of_stock``) retries held orders oldest first, so they move on by
themselves once stock is received.

Staff hear of it through one open alert (kind ``out_of_stock``) per SKU that orders wait
for; the beat job resolves it when no held order names that SKU any more.
"""

import logging

from django.db import transaction
from django.utils.translation import gettext as _

from apps.core.alerts import alert_raise, alert_resolve
from apps.core.models import Alert
from apps.inventory.domain import Allocation, Destination, InsufficientStock, StockRequest
from apps.inventory.selectors import reservations_for
from apps.inventory.services import stock_reserve
from apps.orders.models import Order, OrderLine, OrderStatus
from apps.orders.services.common import order_apply_transition, order_record_change, order_shop_warehouse_ids

logger = logging.getLogger(__name__)

OUT_OF_STOCK = "out_of_stock"
ALERT_KIND = "out_of_stock"


def out_of_stock_alert_key(sku_id: int) -> str:
    return f"out_of_stock:sku:{sku_id}"


def out_of_stock_reason(shortage: InsufficientStock) -> dict:
    """The hold reason for ``shortage``: its message names the short SKUs, its details list them."""
    return {"code": OUT_OF_STOCK, "message": shortage.message, "details": shortage.extra}


def short_sku_ids(hold_reasons: list[dict]) -> set[int]:
    """The SKUs an order's ``out_of_stock`` hold reason waits for (empty: not held for stock)."""
    return {
        int(item["sku_id"])
        for reason in hold_reasons or []
        if reason.get("code") == OUT_OF_STOCK
        for item in (reason.get("details") or {}).get("shortages", [])
    }


def is_out_of_stock(order: Order) -> bool:
    return order.status == OrderStatus.ON_HOLD and any(
        reason.get("code") == OUT_OF_STOCK for reason in order.hold_reasons or []
    )


def order_reserve_stock(*, order: Order, actor: str, lines: list[OrderLine] | None = None) -> list[Allocation]:
    """The order's active reservations, or a new one for all its lines (sourcing as at creation).

    Call on a locked order inside a transaction. Raises ``InsufficientStock`` with nothing
    reserved; ``stock_reserve`` runs in its own savepoint, so the caller's transaction goes on.
    """
    allocations = reservations_for(order.order_no)
    if allocations:
        return allocations
    if lines is None:
        lines = list(order.lines.all())
    return stock_reserve(
        reference=order.order_no,
        requests=[
            StockRequest(sku_id=line.sku_id, quantity=line.quantity, line_reference=str(line.pk)) for line in lines
        ],
        destination=Destination(province=order.province, city=order.city),
        warehouse_ids=order_shop_warehouse_ids(order) or None,
        operator=actor,
    )


def order_hold_out_of_stock(
    *, order: Order, shortage: InsufficientStock, actor: str, findings: list[dict] | None = None
) -> Order:
    """Hold a locked ``paid`` order for ``shortage`` (plus any audit ``findings``) and alert per SKU."""
    order.hold_reasons = [out_of_stock_reason(shortage), *(findings or [])]
    order_apply_transition(
        order=order,
        transition="hold",
        actor=actor,
        remark="; ".join(reason["message"] for reason in order.hold_reasons),
        update_fields=("hold_reasons",),
        extra_payload={"hold_reasons": [reason["code"] for reason in order.hold_reasons]},
    )
    _alerts_raise(shortage, order_no=order.order_no)
    return order


def order_keep_out_of_stock(*, order: Order, shortage: InsufficientStock, actor: str) -> Order:
    """A locked ``on_hold`` order still short of stock stays held. Its reasons name the SKUs
    short now; they are rewritten (logged, published, alerted) only when that set changes, so
    the beat job retrying every few minutes leaves no trace while nothing changed."""
    if short_sku_ids(order.hold_reasons) == short_sku_ids([out_of_stock_reason(shortage)]):
        return order
    others = [reason for reason in order.hold_reasons or [] if reason.get("code") != OUT_OF_STOCK]
    order.hold_reasons = [out_of_stock_reason(shortage), *others]
    order_record_change(
        order=order,
        actor=actor,
        remark=_("Still on hold: %(message)s") % {"message": shortage.message},
        update_fields=("hold_reasons",),
        extra_payload={"hold_reasons": [reason["code"] for reason in order.hold_reasons]},
    )
    _alerts_raise(shortage, order_no=order.order_no)
    return order


def _alerts_raise(shortage: InsufficientStock, *, order_no: str) -> None:
    # In SKU order, so two transactions never take the alert rows in opposite orders.
    for item in sorted(shortage.extra["shortages"], key=lambda s: s["sku_id"]):
        sku = item["sku_code"] or str(item["sku_id"])
        alert_raise(
            kind=ALERT_KIND,
            dedup_key=out_of_stock_alert_key(item["sku_id"]),
            message=_("Paid orders wait for stock of %(sku)s (held as out of stock until it is received).")
            % {"sku": sku},
            details={"sku_id": item["sku_id"], "sku_code": item["sku_code"], "first_order_no": order_no},
        )


def out_of_stock_waiting() -> list[tuple[str, dict[int, int]]]:
    """Orders held for stock, oldest first: ``(order_no, {short sku_id: requested})``.

    Held orders are few; their reasons are filtered here rather than with a JSON lookup,
    which SQLite (the embedded default) does not offer.
    """
    waiting = []
    rows = (
        Order.objects.filter(status=OrderStatus.ON_HOLD)
        .order_by("created_at", "id")
        .values_list("order_no", "hold_reasons")
    )
    for order_no, reasons in rows.iterator(chunk_size=500):
        needs = {
            int(item["sku_id"]): int(item.get("requested") or 0)
            for reason in reasons or []
            if reason.get("code") == OUT_OF_STOCK
            for item in (reason.get("details") or {}).get("shortages", [])
        }
        if needs:
            waiting.append((order_no, needs))
    return waiting


def out_of_stock_alerts_resolve(*, waiting_sku_ids: set[int]) -> int:
    """Resolve the open ``out_of_stock`` alerts of SKUs no held order waits for. Each is
    re-checked under its row lock, so an order held meanwhile (which raises under the same
    lock) keeps its SKU's alert open. Returns how many were resolved."""
    keys = {out_of_stock_alert_key(sku_id) for sku_id in waiting_sku_ids}
    candidates = Alert.objects.filter(kind=ALERT_KIND, open_key__isnull=False).values_list("open_key", "details")
    resolved = 0
    for key, details in list(candidates):
        if key in keys:
            continue
        sku_id = int((details or {}).get("sku_id") or 0)
        with transaction.atomic():
            if not Alert.objects.select_for_update().filter(open_key=key).exists():
                continue
            if any(sku_id in needs for _order_no, needs in out_of_stock_waiting()):
                continue
            resolved += alert_resolve(dedup_key=key)
    return resolved
