"""Order creation, one path for the API's one order and a platform's 500 (``orders_create``;
``order_create`` is a batch of one): validate, price, number and plan the stock outside the
transaction, then one short transaction that only writes.

The helpers that check lines and recipients and price an order are shared with the edits
(``services.edits``), so a changed order is validated and priced exactly as a new one.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Literal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.db import retry_on_deadlock
from apps.core.exceptions import ApplicationError, Conflict, Unprocessable
from apps.core.money import ZERO, to_money
from apps.core.numbers import next_number
from apps.core.outbox import EventInput, outbox_publish_many
from apps.inventory.gate import gate_give_back
from apps.inventory.models import Sku
from apps.inventory.services import (
    Destination,
    ReserveItem,
    StockRequest,
    gate_check,
    gate_check_codes,
    stock_plan,
    stock_plan_abandon,
    stock_plan_record,
    stock_plan_take,
    stock_reserve,
)
from apps.orders.error_codes import OrderErrorCode
from apps.orders.models import Order, OrderLine, OrderStatus, OrderStatusLog
from apps.orders.services.common import (
    order_cache_invalidate_on_commit,
    order_event_payload,
    shops_warehouse_ids,
)
from apps.orders.services.pricing import order_check_discount, order_check_unpaid_limit, order_skus
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
    """One line to order. ``unit_price`` None: the OMS's price (a shop's price, else the list
    price). A storefront order may state it only as a check (``price_mismatch`` otherwise)."""

    sku_id: int | None
    quantity: int
    unit_price: Decimal | None = None
    discount_amount: Decimal = Decimal(0)
    platform_sku_id: str = ""
    name: str = ""
    sku_code: str = ""  # the SKU by its code, when ``sku_id`` is None (the API's lines)


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


def order_build_lines(
    lines: list[OrderLineInput], *, skus: dict[int, Sku] | None = None, shop=None, storefront: bool = False
) -> list[OrderLine]:
    """Unsaved, priced lines for ``lines``; one query for all SKUs (none when ``skus`` is
    given, from ``order_skus``), every problem reported.

    A line without a unit price takes the OMS's (``order_skus``). A ``storefront`` order is
    priced by the OMS only: a stated price that differs is ``price_mismatch`` (422), naming
    every such line with its current price.
    """
    if not lines:
        raise order_invalid({"lines": [_("An order needs at least one line.")]})
    if len(lines) > MAX_LINES:
        raise order_invalid({"lines": [_("An order has at most %(max)d lines.") % {"max": MAX_LINES}]})
    if skus is None:
        skus = order_skus(
            {line.sku_id for line in lines if line.sku_id is not None},
            codes={line.sku_code for line in lines if line.sku_id is None},
            shop=shop,
        )
    by_code = {sku.code: sku for sku in skus.values()}
    built: list[OrderLine] = []
    errors: dict[str, dict[str, list[str]]] = {}
    mismatches: list[dict] = []
    for index, line in enumerate(lines):
        problems: dict[str, list[str]] = {}
        sku = skus.get(line.sku_id) if line.sku_id is not None else by_code.get(line.sku_code)
        if sku is None and line.sku_id is None:
            problems["sku_code"] = [_("Unknown SKU %(code)s.") % {"code": line.sku_code}]
        elif sku is None:
            problems["sku_id"] = [_("SKU %(sku)s does not exist.") % {"sku": line.sku_id}]
        elif not sku.is_active:
            problems["sku_id"] = [_("SKU %(sku)s is not on sale.") % {"sku": sku.code}]
        quantity_ok = isinstance(line.quantity, int) and not isinstance(line.quantity, bool) and line.quantity > 0
        if not quantity_ok:
            problems["quantity"] = [_("Quantity must be a whole number of at least 1.")]
        unit_price = None if line.unit_price is None else _money_or_none(line.unit_price)
        if unit_price is None and line.unit_price is not None:
            problems["unit_price"] = [_("Enter a price of at least 0.00 with at most two decimal places.")]
        discount = _money_or_none(line.discount_amount)
        if discount is None:
            problems["discount_amount"] = [_("Enter a discount of at least 0.00 with at most two decimal places.")]
        if problems:
            errors[str(index)] = problems
            continue
        if unit_price is None or storefront:
            if unit_price is not None and unit_price != sku.catalogue_price:
                mismatches.append(
                    {
                        "index": index,
                        "sku_code": sku.code,
                        "unit_price": f"{unit_price:.2f}",
                        "price": f"{sku.catalogue_price:.2f}",
                    }
                )
            unit_price = sku.catalogue_price
        subtotal = unit_price * line.quantity
        if discount > subtotal:
            errors[str(index)] = {"discount_amount": [_("The discount cannot exceed the line's price times quantity.")]}
            continue
        if subtotal - discount > MAX_AMOUNT:
            errors[str(index)] = {"quantity": [_too_large(_("The line total"))]}
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
    if mismatches:
        raise Unprocessable(
            OrderErrorCode.PRICE_MISMATCH,
            _("The price of %(skus)s has changed; order again at the current price.")
            % {"skus": ", ".join(item["sku_code"] for item in mismatches)},
            {"lines": mismatches},
        )
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
    """Insert ``lines`` for an existing ``order`` (one statement) and reserve their stock
    (all or nothing, ``stock_reserve``): the edits' path, where the order is already locked."""
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
    storefront: bool = False,
) -> tuple[Order, list[OrderLine]]:
    """The unsaved order and its priced lines, every input checked (``order_invalid``).

    No writes; ``skus`` (id -> Sku) saves the SKU query when a batch has read them all.
    """
    buyer_id = (buyer_id or "").strip()
    if not buyer_id or len(buyer_id) > 64:
        raise order_invalid({"buyer_id": [_("Enter a buyer id of 1 to 64 characters.")]})
    if len(buyer_message or "") > 500:
        raise order_invalid({"buyer_message": [_("At most %(limit)d characters.") % {"limit": 500}]})
    if storefront and (shop is None or paid is not None):
        raise ValueError("a storefront order belongs to a shop and arrives unpaid")
    built_lines = order_build_lines(lines, skus=skus, shop=shop, storefront=storefront)
    cleaned_recipient = order_clean_recipient(recipient)
    discount = order_amount(discount_amount, "discount_amount")
    if storefront:
        order_check_discount(shop=shop, lines=built_lines, discount_amount=discount)
        counted = {getattr(line.sku, "buyer_unpaid", None) for line in built_lines}
        order_check_unpaid_limit(shop=shop, buyer_id=buyer_id, counted=counted.pop() if len(counted) == 1 else None)
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


def order_gate_refuse_sold_out(body) -> None:
    """Refuse a create body whose hot SKUs the flash-sale gate counts as sold out, from the
    body alone: the lines' SKU codes and quantities, Redis only (``gate_check_codes``), no
    SQL. Anything not well formed passes, to be answered by the full checks."""
    lines = body.get("lines") if isinstance(body, dict) else None
    if not isinstance(lines, list) or not 0 < len(lines) <= MAX_LINES:
        return
    needs: dict[str, int] = {}
    for line in lines:
        code = line.get("sku_code") if isinstance(line, dict) else None
        quantity = line.get("quantity") if isinstance(line, dict) else None
        if not isinstance(code, str) or not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            return
        needs[code] = needs.get(code, 0) + quantity
    gate_check_codes(needs)


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


@dataclass(frozen=True)
class OrderDraft:
    """One order to create, as ``order_create`` takes it.

    ``paid``: a platform order that arrived paid (enters ``paid``, then audit). ``on_shortage``
    ``"hold"`` (paid orders only): short stock does not refuse it; it is created without a
    reservation and held ``out_of_stock``. ``storefront``: a shop's own storefront order,
    priced and discounted by the OMS and limited in unpaid orders per buyer.
    """

    shop: object
    buyer_id: str
    lines: list[OrderLineInput]
    recipient: RecipientInput
    discount_amount: Decimal = Decimal(0)
    shipping_fee: Decimal | None = None
    buyer_message: str = ""
    platform_order_id: str | None = None
    paid: PaidInput | None = None
    on_shortage: Literal["refuse", "hold"] = ON_SHORTAGE_REFUSE
    storefront: bool = False


@dataclass
class _Prepared:
    index: int
    draft: OrderDraft
    order: Order
    lines: list[OrderLine]


def order_create(*, actor: str, **fields) -> Order:
    """Create one order: ``orders_create`` for a batch of one (``OrderDraft`` names the
    fields). Raises the ``ApplicationError`` that refused it: 400 ``validation_error``, 409
    ``insufficient_stock`` (nothing written), 422 ``price_mismatch`` / ``discount_not_allowed``,
    409 ``too_many_unpaid_orders``, 409 ``duplicate_platform_order``.

    Unpaid orders start in ``pending_payment`` with a payment deadline and a timeout task
    scheduled after commit. The order returned carries ``written_lines`` (its lines, with
    ids) and an empty ``fulfillment_list``: an answer can be built from it without a read.
    """
    (result,) = orders_create([OrderDraft(**fields)], actor=actor)
    if isinstance(result, ApplicationError):
        raise result
    return result


def orders_create(drafts: list[OrderDraft], *, actor: str) -> list[Order | ApplicationError]:
    """Create the drafts' orders: plan, then write. Returns, per draft in order, its order or
    the ``ApplicationError`` that refused it (the others go on).

    Plan (no writes, outside the transaction): the hot-SKU gate pre-check for orders that
    refuse short stock (Redis only, hot SKUs only), one read of the SKUs with their prices,
    the unpaid-order count of a storefront buyer, the shops' warehouses (cached per process),
    numbers, one read of the candidate stock and the sourcing plan of every order
    (``stock_plan``).

    Write (one transaction, no reads): the stock UPDATE first (``stock_plan_take``: a lost
    race re-plans; an order refusing short stock that lost its stock is refused, one that
    holds is created without a reservation), then one multi-row INSERT each for the orders,
    lines, ledger rows, reservations, status logs and outbox events (``order.created``,
    ``order.paid`` for paid orders, one ``stock.changed``). Orders held for stock add their
    hold (a few statements each). The statement count does not grow with the batch or the
    lines. No savepoint unless a draft carries a platform order id (a duplicate is then
    rolled back alone and reported as ``duplicate_platform_order``).

    A database error (a number collision, a platform order imported meanwhile) rolls the
    whole batch back: a batch of one retries a collision with new numbers, a batch raises.
    """
    for draft in drafts:
        if draft.on_shortage not in (ON_SHORTAGE_REFUSE, ON_SHORTAGE_HOLD):
            raise ValueError(f"on_shortage must be {ON_SHORTAGE_REFUSE!r} or {ON_SHORTAGE_HOLD!r}")
        if draft.on_shortage == ON_SHORTAGE_HOLD and not draft.paid:
            raise ValueError("only orders that arrive paid can be held for stock")
    for attempt in range(NUMBER_ATTEMPTS):
        try:
            return _create(drafts, actor=actor)
        except IntegrityError:
            duplicate = _duplicate_platform_order(drafts)
            if duplicate is not None:
                raise duplicate from None
            if len(drafts) > 1 or connection.in_atomic_block or attempt == NUMBER_ATTEMPTS - 1:
                raise
            logger.warning("order number collided; retrying with a new one")
    raise AssertionError("unreachable")


def _duplicate_platform_order(drafts: list[OrderDraft]) -> Conflict | None:
    """For a batch of one platform order that failed to insert: the conflict, if it was
    imported meanwhile (read only when the transaction is still usable)."""
    if len(drafts) != 1 or not drafts[0].platform_order_id:
        return None
    if connection.in_atomic_block and connection.needs_rollback:
        return None
    draft = drafts[0]
    if not Order.objects.filter(shop=draft.shop, platform_order_id=draft.platform_order_id).exists():
        return None
    return Conflict(
        OrderErrorCode.DUPLICATE_PLATFORM_ORDER,
        _("Platform order %(id)s was already imported.") % {"id": draft.platform_order_id},
        {"platform_order_id": draft.platform_order_id},
    )


@retry_on_deadlock
def _create(drafts: list[OrderDraft], *, actor: str) -> list[Order | ApplicationError]:
    results: list[Order | ApplicationError | None] = [None] * len(drafts)
    prepared = _prepare(drafts, results)
    if not prepared:
        return results
    warehouses = shops_warehouse_ids({p.order.shop_id for p in prepared if p.order.shop_id})
    plan = stock_plan(
        items=[
            ReserveItem(
                reference=p.order.order_no,
                requests=[StockRequest(line.sku_id, line.quantity, str(pos)) for pos, line in enumerate(p.lines)],
                destination=Destination(province=p.order.province, city=p.order.city),
                warehouse_ids=warehouses.get(p.order.shop_id) or None,
            )
            for p in prepared
        ]
    )
    codes = {line.sku_id: line.sku_code for p in prepared for line in p.lines}
    refused = [p for p in prepared if p.order.order_no in plan.shortages and p.draft.on_shortage == ON_SHORTAGE_REFUSE]
    if len(refused) == len(prepared):  # nothing to write: no transaction at all
        for p in refused:
            results[p.index] = plan.insufficient(p.order.order_no, codes)
        stock_plan_abandon(plan)
        return results
    savepoint = any(p.order.platform_order_id for p in prepared)
    try:
        with transaction.atomic(savepoint=savepoint):
            plan = stock_plan_take(plan)
            written = []
            for p in prepared:
                if p.order.order_no in plan.shortages and p.draft.on_shortage == ON_SHORTAGE_REFUSE:
                    results[p.index] = plan.insufficient(p.order.order_no, codes)
                else:
                    written.append(p)
            if written:
                _write(written, plan, actor=actor, codes=codes)
    except BaseException:
        stock_plan_abandon(plan)
        raise
    for p in prepared:
        if p.order.order_no in plan.shortages:
            gate_give_back(plan.admitted.get(p.order.order_no, {}), reference=p.order.order_no)
    for p in prepared:
        if results[p.index] is None:
            results[p.index] = p.order
    return results


def _prepare(drafts: list[OrderDraft], results: list) -> list[_Prepared]:
    """Check and price every draft (one SKU query for all); a refused draft's error goes to
    ``results``. Each accepted order gets its number."""
    for index, draft in enumerate(drafts):
        if draft.on_shortage == ON_SHORTAGE_REFUSE:
            try:
                order_gate_precheck(draft.lines)
            except ApplicationError as exc:
                results[index] = exc
    if all(result is not None for result in results):
        return []
    shops = {getattr(d.shop, "pk", None) for d in drafts}
    pricing_shop = drafts[0].shop if len(shops) == 1 else None
    one_buyer = len(drafts) == 1 and drafts[0].storefront
    skus = order_skus(
        {line.sku_id for d in drafts for line in d.lines if line.sku_id is not None},
        codes={line.sku_code for d in drafts for line in d.lines if line.sku_id is None and line.sku_code},
        shop=pricing_shop,
        unpaid_buyer=(drafts[0].buyer_id or "").strip() if one_buyer else None,
    )
    prepared = []
    for index, draft in enumerate(drafts):
        if results[index] is not None:
            continue
        try:
            order, lines = order_prepare(
                shop=draft.shop,
                buyer_id=draft.buyer_id,
                lines=draft.lines,
                recipient=draft.recipient,
                discount_amount=draft.discount_amount,
                shipping_fee=draft.shipping_fee,
                buyer_message=draft.buyer_message,
                platform_order_id=draft.platform_order_id,
                paid=draft.paid,
                skus=skus,
                storefront=draft.storefront,
            )
        except ApplicationError as exc:
            results[index] = exc
            continue
        order.order_no = next_number()
        prepared.append(_Prepared(index=index, draft=draft, order=order, lines=lines))
    return prepared


def _write(prepared: list[_Prepared], plan, *, actor: str, codes: dict[int, str]) -> None:
    """The INSERTs of a taken plan, inside its transaction (see ``orders_create``)."""
    orders = [p.order for p in prepared]
    Order.objects.bulk_create(orders)
    if any(order.pk is None for order in orders):
        # Backends that return no ids from a bulk insert (MySQL 8): read them back.
        ids = dict(Order.objects.filter(order_no__in=[o.order_no for o in orders]).values_list("order_no", "pk"))
        for order in orders:
            order.pk = ids[order.order_no]
    all_lines = []
    for p in prepared:
        for line in p.lines:
            line.order = p.order
        all_lines.extend(p.lines)
    OrderLine.objects.bulk_create(all_lines)
    if any(line.pk is None for line in all_lines):
        by_order: dict[int, list[int]] = defaultdict(list)
        for pk, order_id in OrderLine.objects.filter(order__in=orders).order_by("id").values_list("pk", "order_id"):
            by_order[order_id].append(pk)
        for p in prepared:
            for line, pk in zip(p.lines, by_order[p.order.pk], strict=True):
                line.pk = pk
    stock_event = stock_plan_record(
        plan,
        operator=actor,
        line_references={
            p.order.order_no: {str(pos): str(line.pk) for pos, line in enumerate(p.lines)}
            for p in prepared
            if p.order.order_no in plan.allocations
        },
    )
    OrderStatusLog.objects.bulk_create([order_created_log(order, actor=actor) for order in orders])
    events = [event for order in orders for event in order_created_events(order)]
    outbox_publish_many(events + ([stock_event] if stock_event is not None else []))
    for p in prepared:
        p.order.written_lines = p.lines
        p.order.fulfillment_list = []
        if p.order.order_no in plan.shortages:
            order_hold_out_of_stock(order=p.order, shortage=plan.insufficient(p.order.order_no, codes), actor=actor)
    order_cache_invalidate_on_commit([order.order_no for order in orders])
    due = [(order.order_no, order.payment_deadline) for order in orders if order.payment_deadline is not None]
    if due:
        transaction.on_commit(lambda: [_schedule_expiry(order_no, deadline) for order_no, deadline in due])
