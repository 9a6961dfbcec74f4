"""Order creation: validate, price, number, reserve stock and record, in one transaction.

The helpers that check lines and recipients and price an order are shared with the edits
(``services.edits``), so a changed order is validated and priced exactly as a new one.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Literal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.db import retry_on_deadlock
from apps.core.exceptions import ApplicationError, Conflict
from apps.core.money import ZERO, to_money
from apps.core.numbers import next_number
from apps.core.outbox import EventInput, outbox_publish_many
from apps.inventory.domain import InsufficientStock
from apps.inventory.models import Sku
from apps.inventory.services import Destination, StockRequest, gate_check, stock_reserve
from apps.orders.error_codes import OrderErrorCode
from apps.orders.models import Order, OrderLine, OrderStatus, OrderStatusLog
from apps.orders.services.common import (
    order_cache_invalidate_on_commit,
    order_event_payload,
    order_shop_warehouse_ids,
)
from apps.orders.services.shortage import order_hold_out_of_stock

logger = logging.getLogger(__name__)

OWN_PLATFORM = "own"
MAX_LINES = 100
MAX_AMOUNT = Decimal("9999999999.99")
NUMBER_ATTEMPTS = 3
ON_SHORTAGE_REFUSE = "refuse"
ON_SHORTAGE_HOLD = "hold"


@dataclass(frozen=True)
class OrderLineInput:
    sku_id: int
    quantity: int
    unit_price: Decimal
    discount_amount: Decimal = Decimal(0)
    platform_sku_id: str = ""
    name: str = ""


@dataclass(frozen=True)
class RecipientInput:
    name: str
    phone: str
    province: str
    city: str
    district: str
    address: str


@dataclass(frozen=True)
class PaidInput:
    """Payment a platform already collected: the order enters ``paid``."""

    amount: Decimal
    paid_at: datetime
    method: str


def order_invalid(errors: dict) -> ApplicationError:
    return ApplicationError(OrderErrorCode.VALIDATION_ERROR, _("The order is invalid; see details."), errors)


def _money_or_none(value) -> Decimal | None:
    """A non-negative amount with two places, or None when ``value`` is not one."""
    try:
        amount = to_money(value)
    except (TypeError, ValueError, InvalidOperation):
        return None
    if not amount.is_finite() or amount < ZERO or amount > MAX_AMOUNT:
        return None
    return amount


def order_amount(value, field: str) -> Decimal:
    amount = _money_or_none(value)
    if amount is None:
        raise order_invalid({field: [_("Enter an amount of at least 0.00 with at most two decimal places.")]})
    return amount


def _too_large(what: str) -> str:
    return _("%(what)s exceeds the largest amount an order can hold (%(max)s).") % {
        "what": what,
        "max": f"{MAX_AMOUNT:.2f}",
    }


def order_build_lines(lines: list[OrderLineInput], *, skus: dict[int, Sku] | None = None) -> list[OrderLine]:
    """Unsaved, priced lines for ``lines``; one query for all SKUs (none when ``skus`` is
    given), every problem reported."""
    if not lines:
        raise order_invalid({"lines": [_("An order needs at least one line.")]})
    if len(lines) > MAX_LINES:
        raise order_invalid({"lines": [_("An order has at most %(max)d lines.") % {"max": MAX_LINES}]})
    if skus is None:
        skus = Sku.objects.in_bulk({line.sku_id for line in lines})
    built: list[OrderLine] = []
    errors: dict[str, dict[str, list[str]]] = {}
    for index, line in enumerate(lines):
        problems: dict[str, list[str]] = {}
        sku = skus.get(line.sku_id)
        if sku is None:
            problems["sku_id"] = [_("SKU %(sku)s does not exist.") % {"sku": line.sku_id}]
        elif not sku.is_active:
            problems["sku_id"] = [_("SKU %(sku)s is not on sale.") % {"sku": sku.code}]
        quantity_ok = isinstance(line.quantity, int) and not isinstance(line.quantity, bool) and line.quantity > 0
        if not quantity_ok:
            problems["quantity"] = [_("Quantity must be a whole number of at least 1.")]
        unit_price = _money_or_none(line.unit_price)
        if unit_price is None:
            problems["unit_price"] = [_("Enter a price of at least 0.00 with at most two decimal places.")]
        discount = _money_or_none(line.discount_amount)
        if discount is None:
            problems["discount_amount"] = [_("Enter a discount of at least 0.00 with at most two decimal places.")]
        if not problems:
            subtotal = unit_price * line.quantity
            if discount > subtotal:
                problems["discount_amount"] = [_("The discount cannot exceed the line's price times quantity.")]
            elif subtotal - discount > MAX_AMOUNT:
                problems["quantity"] = [_too_large(_("The line total"))]
        if problems:
            errors[str(index)] = problems
            continue
        built.append(
            OrderLine(
                sku=sku,
                sku_code=sku.code,
                name=(line.name or sku.name)[:200],
                quantity=line.quantity,
                unit_price=unit_price,
                discount_amount=discount,
                line_total=subtotal - discount,
                platform_sku_id=(line.platform_sku_id or "")[:64],
            )
        )
    if errors:
        raise order_invalid({"lines": errors})
    return built


RECIPIENT_LIMITS = {"name": 64, "phone": 32, "province": 32, "city": 32, "district": 32, "address": 255}
RECIPIENT_OPTIONAL = {"district"}


def order_clean_recipient(recipient: RecipientInput) -> dict[str, str]:
    """The recipient's fields stripped and checked: complete, and within the column sizes."""
    cleaned: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for field, limit in RECIPIENT_LIMITS.items():
        value = (getattr(recipient, field) or "").strip()
        if not value and field not in RECIPIENT_OPTIONAL:
            errors[field] = [_("This field is required.")]
        elif len(value) > limit:
            errors[field] = [_("At most %(limit)d characters.") % {"limit": limit}]
        cleaned[field] = value
    if errors:
        raise order_invalid({"recipient": errors})
    return cleaned


def recipient_model_fields(cleaned: dict[str, str]) -> dict[str, str]:
    return {
        "recipient_name": cleaned["name"],
        "recipient_phone": cleaned["phone"],
        "province": cleaned["province"],
        "city": cleaned["city"],
        "district": cleaned["district"],
        "address": cleaned["address"],
    }


def order_price(
    *, goods_total: Decimal, discount_amount: Decimal, shipping_fee: Decimal | None
) -> tuple[Decimal, Decimal]:
    """(shipping fee, payable). With no fee given, shipping is free from the threshold on
    (goods after discount), else ``ORDER_SHIPPING_FEE``. An order discount larger than the
    goods total is refused (``validation_error`` on ``discount_amount``), and so are a goods
    total (on ``lines``) or payable (on ``shipping_fee``) above ``MAX_AMOUNT``, the most the
    amount columns hold."""
    if discount_amount > goods_total:
        raise order_invalid(
            {
                "discount_amount": [
                    _("The order discount %(discount)s cannot exceed the goods total %(total)s.")
                    % {"discount": f"{discount_amount:.2f}", "total": f"{goods_total:.2f}"}
                ]
            }
        )
    if goods_total > MAX_AMOUNT:
        raise order_invalid({"lines": [_too_large(_("The goods total"))]})
    if shipping_fee is None:
        threshold = to_money(settings.ORDER_FREE_SHIPPING_THRESHOLD)
        shipping_fee = ZERO if goods_total - discount_amount >= threshold else to_money(settings.ORDER_SHIPPING_FEE)
    payable = goods_total - discount_amount + shipping_fee
    if payable > MAX_AMOUNT:
        raise order_invalid({"shipping_fee": [_too_large(_("The payable amount"))]})
    return shipping_fee, payable


def order_lines_insert_and_reserve(*, order: Order, lines: list[OrderLine], warehouse_ids: list[int], actor: str):
    """Insert ``lines`` for ``order`` (one statement) and reserve their stock (all or nothing)."""
    for line in lines:
        line.order = order
    OrderLine.objects.bulk_create(lines)
    if any(line.pk is None for line in lines):
        # Backends that cannot return ids from a bulk insert (MySQL 8): read them back in order.
        lines[:] = list(OrderLine.objects.filter(order=order).select_related("sku").order_by("id"))
    return stock_reserve(
        reference=order.order_no,
        requests=[
            StockRequest(sku_id=line.sku_id, quantity=line.quantity, line_reference=str(line.pk)) for line in lines
        ],
        destination=Destination(province=order.province, city=order.city),
        warehouse_ids=warehouse_ids or None,
        operator=actor,
    )


def _insert_order(order: Order) -> Order:
    """Save a new order under a fresh number; a number collision (another node, same
    second and sequence) retries, a platform order already imported is a conflict."""
    for attempt in range(NUMBER_ATTEMPTS):
        order.order_no = next_number()
        try:
            with transaction.atomic():
                order.save(force_insert=True)
            return order
        except IntegrityError:
            if (
                order.platform_order_id
                and Order.objects.filter(shop_id=order.shop_id, platform_order_id=order.platform_order_id).exists()
            ):
                raise Conflict(
                    OrderErrorCode.DUPLICATE_PLATFORM_ORDER,
                    _("Platform order %(id)s was already imported.") % {"id": order.platform_order_id},
                    {"platform_order_id": order.platform_order_id},
                ) from None
            if attempt == NUMBER_ATTEMPTS - 1:
                raise
            logger.warning("order number %s collided; retrying with a new one", order.order_no)
    raise AssertionError("unreachable")


def _schedule_expiry(order_no: str, deadline: datetime) -> None:
    """The fast path of the payment timeout. Losing it is harmless: the beat sweep
    (``orders.expire_overdue``) closes overdue orders anyway."""
    from apps.orders.tasks import order_expire_task

    try:
        order_expire_task.apply_async(kwargs={"order_no": order_no}, eta=deadline)
    except Exception:
        logger.warning("could not schedule the payment timeout of %s; the sweep will close it", order_no, exc_info=True)


def order_created_log(order: Order, *, actor: str) -> OrderStatusLog:
    """The unsaved first status log entry of a new order."""
    remark = _("Arrived paid.") if order.status == OrderStatus.PAID else _("Order created.")
    return OrderStatusLog(order=order, from_status="", to_status=order.status, operator=actor, remark=remark)


def order_created_events(order: Order) -> list[EventInput]:
    """``order.created``, and ``order.paid`` for an order that arrived paid (starts the audit)."""
    payload = order_event_payload(order)
    topics = ["order.created", "order.paid"] if order.status == OrderStatus.PAID else ["order.created"]
    return [EventInput(topic=t, aggregate_type="order", aggregate_id=order.order_no, payload=payload) for t in topics]


def order_prepare(
    *,
    shop,
    buyer_id: str,
    lines: list[OrderLineInput],
    recipient: RecipientInput,
    discount_amount: Decimal = Decimal(0),
    shipping_fee: Decimal | None = None,
    buyer_message: str = "",
    platform_order_id: str | None = None,
    paid: PaidInput | None = None,
    skus: dict[int, Sku] | None = None,
) -> tuple[Order, list[OrderLine]]:
    """The unsaved order and its priced lines, every input checked (``order_invalid``).

    No writes; ``skus`` (id -> Sku) saves the SKU query when a batch has read them all.
    """
    buyer_id = (buyer_id or "").strip()
    if not buyer_id or len(buyer_id) > 64:
        raise order_invalid({"buyer_id": [_("Enter a buyer id of 1 to 64 characters.")]})
    if len(buyer_message or "") > 500:
        raise order_invalid({"buyer_message": [_("At most %(limit)d characters.") % {"limit": 500}]})
    built_lines = order_build_lines(lines, skus=skus)
    cleaned_recipient = order_clean_recipient(recipient)
    discount = order_amount(discount_amount, "discount_amount")
    fee = None if shipping_fee is None else order_amount(shipping_fee, "shipping_fee")
    goods_total = sum((line.line_total for line in built_lines), ZERO)
    fee, payable = order_price(goods_total=goods_total, discount_amount=discount, shipping_fee=fee)
    order = Order(
        shop=shop,
        platform=(shop.platform if shop is not None else OWN_PLATFORM),
        platform_order_id=platform_order_id or None,
        buyer_id=buyer_id,
        status=OrderStatus.PAID if paid else OrderStatus.PENDING_PAYMENT,
        total_amount=goods_total,
        discount_amount=discount,
        shipping_fee=fee,
        payable_amount=payable,
        buyer_message=buyer_message or "",
        **recipient_model_fields(cleaned_recipient),
    )
    if paid:
        order.paid_amount = order_amount(paid.amount, "paid_amount")
        order.paid_at = paid.paid_at
        order.payment_method = (paid.method or "")[:16]
    else:
        order.payment_deadline = timezone.now() + timedelta(minutes=settings.PAYMENT_DEADLINE_MINUTES)
    return order, built_lines


def order_gate_precheck(lines: list[OrderLineInput]) -> None:
    """Refuse an order whose hot SKUs the flash-sale gate already counts as sold out.

    Redis only, before any SQL: ``InsufficientStock`` (409) naming the short hot SKUs. Lines
    that are not yet well formed skip it, so bad input still gets its 400 from the checks;
    a line over a cold SKU, the gate off or Redis down pass (the reservation decides).
    """
    if len(lines) > MAX_LINES:
        return
    needs: dict[int, int] = {}
    for line in lines:
        well_formed = all(
            isinstance(value, int) and not isinstance(value, bool) and value > 0
            for value in (line.sku_id, line.quantity)
        )
        if not well_formed:
            return
        needs[line.sku_id] = needs.get(line.sku_id, 0) + line.quantity
    gate_check(needs)


@retry_on_deadlock
def order_create(
    *,
    shop,
    buyer_id: str,
    lines: list[OrderLineInput],
    recipient: RecipientInput,
    discount_amount: Decimal = Decimal(0),
    shipping_fee: Decimal | None = None,
    buyer_message: str = "",
    platform_order_id: str | None = None,
    paid: PaidInput | None = None,
    on_shortage: Literal["refuse", "hold"] = ON_SHORTAGE_REFUSE,
    actor: str,
) -> Order:
    """Create an order with its lines, stock reservation, status log and ``order.created``
    event in one transaction; a fixed number of queries whatever the number of lines.

    Unpaid orders start in ``pending_payment`` with a payment deadline and a timeout task
    scheduled after commit. Platform orders that arrive paid (``paid``) start in ``paid``
    and also publish ``order.paid``, which starts the audit.

    Short stock refuses the order (409 ``insufficient_stock``, nothing written) unless
    ``on_shortage="hold"`` (paid orders only: the buyer has paid, the order must not be
    lost): then it is created without a reservation, enters ``paid`` and is put ``on_hold``
    at once with reason ``out_of_stock`` naming the short SKUs (``services.shortage``).

    A refused order first meets the hot-SKU gate (``order_gate_precheck``): when a flash-sale
    SKU's Redis counter is below the quantity ordered, the 409 comes before this function's
    first query, so a sold-out flash sale does not load the database. Through the API some SQL
    still comes first: the caller's authentication, the serializer's lookup of the SKU codes,
    and, for a POST with ``Idempotency-Key``, the key's claim row, written (and rolled back
    with the 409) before the view runs. ``stock_reserve`` still admits through the gate and
    the database guard decides.
    """
    if on_shortage not in (ON_SHORTAGE_REFUSE, ON_SHORTAGE_HOLD):
        raise ValueError(f"on_shortage must be {ON_SHORTAGE_REFUSE!r} or {ON_SHORTAGE_HOLD!r}, not {on_shortage!r}")
    if on_shortage == ON_SHORTAGE_HOLD and not paid:
        raise ValueError("only orders that arrive paid can be held for stock")
    if on_shortage == ON_SHORTAGE_REFUSE:
        order_gate_precheck(lines)
    order, built_lines = order_prepare(
        shop=shop,
        buyer_id=buyer_id,
        lines=lines,
        recipient=recipient,
        discount_amount=discount_amount,
        shipping_fee=shipping_fee,
        buyer_message=buyer_message,
        platform_order_id=platform_order_id,
        paid=paid,
    )
    warehouse_ids = order_shop_warehouse_ids(order)
    with transaction.atomic():
        _insert_order(order)
        shortage = None
        try:
            order_lines_insert_and_reserve(order=order, lines=built_lines, warehouse_ids=warehouse_ids, actor=actor)
        except InsufficientStock as exc:
            # stock_reserve ran in its own savepoint: nothing reserved, the lines stay.
            if on_shortage != ON_SHORTAGE_HOLD:
                raise
            shortage = exc
        order_created_log(order, actor=actor).save()
        outbox_publish_many(order_created_events(order))
        if shortage is not None:
            order_hold_out_of_stock(order=order, shortage=shortage, actor=actor)
        order_no, deadline = order.order_no, order.payment_deadline
        order_cache_invalidate_on_commit([order_no])
        if deadline is not None:
            transaction.on_commit(lambda: _schedule_expiry(order_no, deadline))
    return order
