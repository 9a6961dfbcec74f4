"""After-sale services: open, approve, reject, cancel, receive, refund, ship a replacement.

Every change locks the after-sale row (opening one locks the order row, so two requests on
the same order cannot both pass the quantity and amount checks), runs the django-fsm
transition, writes an ``AfterSaleLog`` row and publishes ``aftersale.<status>`` in the same
transaction. The effects go through the other apps' services: ``order_cancel`` /
``order_request_refund`` (orders), ``refund_request_for_order`` (payments: the refund goes
back through the payments that hold the order's money, idempotent by the reference
``AS:<aftersale_no>``), ``stock_return_to_stock`` (inventory) and
``fulfillment_create_extra`` (orders, which reserves and later consumes the stock).
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.utils.translation import gettext as _
from django_fsm import can_proceed

from apps.aftersales.error_codes import AfterSaleErrorCode
from apps.aftersales.models import (
    REFUND_TYPES,
    RETURN_TYPES,
    UNREFUNDED_STATUSES,
    AfterSale,
    AfterSaleLine,
    AfterSaleLog,
    AfterSaleSource,
    AfterSaleStatus,
    AfterSaleType,
    Inspection,
)
from apps.core.alerts import alert_raise, alert_resolve
from apps.core.exceptions import ApplicationError, Conflict, NotFound, Unprocessable
from apps.core.money import ZERO, to_money
from apps.core.numbers import next_number
from apps.core.outbox import outbox_publish
from apps.inventory.models import Sku
from apps.inventory.services import stock_return_to_stock
from apps.orders.models import (
    FS,
    PAID_NOT_SHIPPED_STATUSES,
    SHIPPED_STATUSES,
    Fulfillment,
    Order,
    OrderLine,
    OrderStatus,
    refunds_cover_payment,
)
from apps.orders.services import order_cancel, order_record_refund, order_request_refund, orders_restore
from apps.orders.services.fulfillment import fulfillment_create_extra
from apps.payments.selectors import payments_paid_total, refund_request_state, refunds_total
from apps.payments.services import refund_request_for_order

logger = logging.getLogger(__name__)

A = AfterSaleStatus
T = AfterSaleType
OS = OrderStatus

# Order statuses with no goods on the way yet, and those where goods have left the warehouse.
AUTO_ACTOR = "system:aftersales"


@dataclass(frozen=True)
class AfterSaleLineInput:
    order_line_id: int
    quantity: int
    exchange_sku_id: int | None = None


def aftersale_reference(aftersale: AfterSale, attempt: int) -> str:
    """The payments refund reference: ``AS:<no>``, then ``AS:<no>:<attempt>`` for retries."""
    return f"AS:{aftersale.aftersale_no}" if attempt <= 1 else f"AS:{aftersale.aftersale_no}:{attempt}"


def aftersale_no_from_reference(reference: str) -> str | None:
    parts = (reference or "").split(":")
    if len(parts) < 2 or parts[0] != "AS":
        return None
    return parts[1]


# --- helpers --------------------------------------------------------------------------


def _lock(aftersale_no: str) -> AfterSale:
    aftersale = AfterSale.objects.select_for_update().filter(aftersale_no=aftersale_no).first()
    if aftersale is None:
        raise NotFound(
            AfterSaleErrorCode.AFTERSALE_NOT_FOUND,
            _("After-sale %(no)s does not exist.") % {"no": aftersale_no},
        )
    return aftersale


def _log(aftersale: AfterSale, *, from_status: str, actor: str, remark: str) -> None:
    AfterSaleLog.objects.create(
        aftersale=aftersale,
        from_status=from_status,
        to_status=aftersale.status,
        operator=actor[:64],
        remark=remark[:500],
    )


def _publish(aftersale: AfterSale, order_no: str) -> None:
    outbox_publish(
        topic=f"aftersale.{aftersale.status}",
        aggregate_type="aftersale",
        aggregate_id=aftersale.aftersale_no,
        payload={"aftersale_no": aftersale.aftersale_no, "order_no": order_no, "status": aftersale.status},
    )


def _require(aftersale: AfterSale, transition: str) -> None:
    """409 unless ``transition`` is allowed from the after-sale's current status."""
    if not can_proceed(getattr(aftersale, transition)):
        raise Conflict(
            AfterSaleErrorCode.INVALID_STATUS,
            _("After-sale %(no)s cannot %(action)s while %(status)s.")
            % {
                "no": aftersale.aftersale_no,
                "action": transition.replace("_", " "),
                "status": aftersale.get_status_display(),
            },
            {"status": aftersale.status},
        )


def _apply(
    aftersale: AfterSale, transition: str, *, actor: str, remark: str = "", update_fields: tuple[str, ...] = ()
) -> AfterSale:
    """Run ``transition`` on a locked after-sale, save, log and publish; 409 when not allowed."""
    _require(aftersale, transition)
    from_status = aftersale.status
    getattr(aftersale, transition)()
    aftersale.save(update_fields=["status", "completed_at", "updated_at", *update_fields])
    _log(aftersale, from_status=from_status, actor=actor, remark=remark)
    _publish(aftersale, aftersale.order.order_no)
    return aftersale


def committed_quantities(order: Order, *, exclude_pk: int | None = None) -> dict[int, int]:
    """Per order line: quantities already claimed by after-sales that are not rejected/cancelled."""
    rows = (
        AfterSaleLine.objects.filter(aftersale__order=order)
        .exclude(aftersale__status__in=[A.REJECTED, A.CANCELLED])
        .exclude(aftersale__pk=exclude_pk)
        .values("order_line_id")
        .annotate(total=Sum("quantity"))
    )
    return {row["order_line_id"]: row["total"] for row in rows}


def paid_on_platform(order: Order) -> bool:
    """The order arrived paid from a platform: the platform holds the money, not our payments.

    Such an order has a paid amount but no payment of ours; the platform refunds the buyer
    itself, so its after-sales only record the refund on the order.
    """
    return order.paid_amount > ZERO and payments_paid_total(order.order_no) == ZERO


def _paid_and_refunded(order: Order) -> tuple[Decimal, Decimal]:
    """Paid and refunded (or being refunded): our payments' totals, or the order's for platform money."""
    if paid_on_platform(order):
        return order.paid_amount, order.refunded_amount
    return payments_paid_total(order.order_no), refunds_total(order.order_no)


def _not_yet_refunded(order: Order) -> Decimal:
    """What is left to give back."""
    paid, refunded = _paid_and_refunded(order)
    return paid - refunded


def refundable_amount(order: Order) -> Decimal:
    """Paid, minus refunded or being refunded, minus what open after-sales still claim.

    Paid and refunded come from payments, or from the order itself when the platform holds
    the money (``paid_on_platform``). An open after-sale claims its requested amount until
    approved, then its approved amount; once it is refunding, payments holds the refund and
    counts it (a platform order's refund is recorded on the order at once).
    """
    return to_money(max(_not_yet_refunded(order) - _claimed(order), ZERO))


def _claimed(order: Order, *, exclude_pk: int | None = None) -> Decimal:
    """What open refund after-sales of ``order`` (but ``exclude_pk``) still claim: a refund that
    failed after part of it went back (payments counts that part) claims only the rest."""
    claims = (
        AfterSale.objects.filter(order=order, status__in=UNREFUNDED_STATUSES, type__in=REFUND_TYPES)
        .exclude(pk=exclude_pk)
        .values_list("status", "requested_amount", "approved_amount", "refunded_amount")
    )
    return sum(
        (
            requested if status == A.REQUESTED else approved - refunded
            for status, requested, approved, refunded in claims
        ),
        ZERO,
    )


def _validate_lines(
    order: Order, aftersale_type: str, lines: list[AfterSaleLineInput]
) -> list[tuple[OrderLine, AfterSaleLineInput]]:
    if not lines:
        if aftersale_type == T.REFUND_ONLY:
            return []
        raise Unprocessable(AfterSaleErrorCode.INVALID_LINES, _("Name the items to return, exchange or reissue."))
    order_lines = {line.pk: line for line in OrderLine.objects.filter(order=order)}
    committed = committed_quantities(order)
    requested: dict[int, int] = defaultdict(int)
    unknown = []
    for item in lines:
        if item.order_line_id not in order_lines:
            unknown.append(item.order_line_id)
        if item.quantity <= 0:
            raise Unprocessable(AfterSaleErrorCode.INVALID_LINES, _("Quantities must be positive."))
        if item.exchange_sku_id is not None and aftersale_type != T.EXCHANGE:
            raise Unprocessable(AfterSaleErrorCode.INVALID_LINES, _("Only an exchange can name another SKU."))
        requested[item.order_line_id] += item.quantity
    if unknown:
        raise Unprocessable(
            AfterSaleErrorCode.INVALID_LINES,
            _("These lines are not lines of order %(no)s.") % {"no": order.order_no},
            {"order_line_ids": unknown},
        )
    _validate_exchange_skus({item.exchange_sku_id for item in lines if item.exchange_sku_id is not None})
    excess = []
    for line_id, quantity in sorted(requested.items()):
        returnable = order_lines[line_id].quantity - committed.get(line_id, 0)
        if quantity > returnable:
            excess.append({"order_line_id": line_id, "requested": quantity, "returnable": max(returnable, 0)})
    if excess:
        raise Unprocessable(
            AfterSaleErrorCode.QUANTITY_EXCEEDS_RETURNABLE,
            _("More items than were bought and not yet claimed by another after-sale."),
            {"lines": excess},
        )
    return [(order_lines[item.order_line_id], item) for item in lines]


def _validate_exchange_skus(sku_ids: set[int]) -> None:
    """400 unless every SKU an exchange sends instead exists and is still sold."""
    active = dict(Sku.objects.filter(pk__in=sku_ids).values_list("pk", "is_active"))
    unknown = sorted(sku_ids - active.keys())
    if unknown:
        raise ApplicationError(
            AfterSaleErrorCode.EXCHANGE_SKU_NOT_FOUND,
            _("The SKU to send in exchange does not exist."),
            {"exchange_sku_ids": unknown},
        )
    inactive = sorted(pk for pk, is_active in active.items() if not is_active)
    if inactive:
        raise ApplicationError(
            AfterSaleErrorCode.EXCHANGE_SKU_INACTIVE,
            _("The SKU to send in exchange is no longer sold: choose another one."),
            {"exchange_sku_ids": inactive},
        )


def _validate_type_for_order(order: Order, aftersale_type: str) -> None:
    if order.status in (OS.CANCELLED, OS.PAYMENT_TIMEOUT, OS.REFUNDED, OS.REFUNDING):
        raise Conflict(
            AfterSaleErrorCode.ORDER_NOT_ELIGIBLE,
            _("Order %(no)s is %(status)s: no after-sale can be opened.")
            % {"no": order.order_no, "status": order.get_status_display()},
            {"status": order.status},
        )
    if aftersale_type != T.REFUND_ONLY and order.status not in SHIPPED_STATUSES:
        raise Conflict(
            AfterSaleErrorCode.ORDER_NOT_SHIPPED,
            _("Order %(no)s has not been shipped: only a refund can be requested.") % {"no": order.order_no},
            {"status": order.status},
        )


def _validate_amount(order: Order, aftersale_type: str, amount: Decimal) -> Decimal:
    amount = to_money(amount)
    if amount < 0:
        raise Unprocessable(AfterSaleErrorCode.INVALID_AMOUNT, _("The amount cannot be negative."))
    if aftersale_type not in REFUND_TYPES:
        if amount != 0:
            raise Unprocessable(AfterSaleErrorCode.INVALID_AMOUNT, _("An exchange or reissue refunds no money."))
        return amount
    if order.status == OS.PENDING_PAYMENT:
        if amount != 0:
            raise Unprocessable(
                AfterSaleErrorCode.AMOUNT_EXCEEDS_REFUNDABLE,
                _("Order %(no)s is unpaid: there is nothing to refund.") % {"no": order.order_no},
                {"refundable": "0.00"},
            )
        return amount
    if amount == 0:
        raise Unprocessable(AfterSaleErrorCode.INVALID_AMOUNT, _("A refund must be more than zero."))
    refundable = refundable_amount(order)
    if amount > refundable:
        raise Unprocessable(
            AfterSaleErrorCode.AMOUNT_EXCEEDS_REFUNDABLE,
            _("%(amount)s is more than the %(refundable)s still refundable on order %(no)s.")
            % {"amount": amount, "refundable": refundable, "no": order.order_no},
            {"requested": str(amount), "refundable": str(refundable)},
        )
    return amount


def _nothing_handed_to_the_wms(order: Order) -> bool:
    """Every live package of the order is pending and not yet claimed for the WMS.

    A claimed package (``sent_to_wms_at`` set) may already be at the warehouse: a merged
    one can no longer be intercepted at all, so such a request waits for staff.
    """
    return (
        not Fulfillment.objects.filter(lines__order_line__order=order)
        .exclude(status=FS.CANCELLED)
        .filter(~Q(status=FS.PENDING) | Q(sent_to_wms_at__isnull=False))
        .exists()
    )


def _default_receiving_warehouse_id(order: Order) -> int | None:
    return (
        Fulfillment.objects.filter(lines__order_line__order=order, status="shipped", kind=Fulfillment.Kind.NORMAL)
        .order_by("pk")
        .values_list("warehouse_id", flat=True)
        .first()
    )


def _is_full_refund(order: Order, amount: Decimal) -> bool:
    paid, refunded = _paid_and_refunded(order)
    return refunds_cover_payment(paid=paid, refunded=refunded + amount)


# --- open -----------------------------------------------------------------------------


def aftersale_create(
    *,
    order_no: str,
    type: str,
    lines: list[AfterSaleLineInput],
    amount: Decimal,
    reason: str,
    source: str,
    actor: str,
    notes: str = "",
    platform_refund_id: str | None = None,
    shop_id: int | None = None,
) -> AfterSale:
    """Open an after-sale; simple cases are approved (and carried out) at once.

    Unpaid order: the order is cancelled and the after-sale completes. Paid, nothing handed
    to the WMS yet and the whole remaining amount asked back: approved, the order cancelled
    (intercepted) or moved to refunding, the money refunded. Anything else waits for staff.
    ``platform_refund_id`` makes a platform's request idempotent: the same id on the same
    shop returns the after-sale already opened. ``shop_id`` scopes a shop caller to its orders.
    """
    if type not in T.values:
        raise Unprocessable(AfterSaleErrorCode.INVALID_LINES, _("Unknown after-sale type %(t)s.") % {"t": type})
    if source not in AfterSaleSource.values:
        raise Unprocessable(AfterSaleErrorCode.INVALID_LINES, _("Unknown source %(s)s.") % {"s": source})
    with transaction.atomic():
        order_query = Order.objects.select_for_update().filter(order_no=order_no)
        if shop_id is not None:
            order_query = order_query.filter(shop_id=shop_id)
        order = order_query.first()
        # An archived order comes back whole for its after-sale.
        if order is None and orders_restore(order_nos=[order_no], actor=actor):
            order = order_query.first()
        if order is None:
            raise NotFound(AfterSaleErrorCode.ORDER_NOT_FOUND, _("Order %(no)s does not exist.") % {"no": order_no})
        if platform_refund_id:
            existing = AfterSale.objects.filter(shop_id=order.shop_id, platform_refund_id=platform_refund_id).first()
            if existing is not None:
                return existing
        _validate_type_for_order(order, type)
        checked_lines = _validate_lines(order, type, lines)
        amount = _validate_amount(order, type, amount)
        aftersale = AfterSale.objects.create(
            aftersale_no=f"AS{next_number()}",
            order=order,
            shop_id=order.shop_id,
            type=type,
            source=source,
            platform_refund_id=platform_refund_id or None,
            requested_amount=amount,
            reason=reason[:255],
            notes=notes,
            created_by=actor[:64],
        )
        AfterSaleLine.objects.bulk_create(
            [
                AfterSaleLine(
                    aftersale=aftersale,
                    order_line=order_line,
                    quantity=item.quantity,
                    exchange_sku_id=item.exchange_sku_id,
                )
                for order_line, item in checked_lines
            ]
        )
        _log(aftersale, from_status="", actor=actor, remark=reason)
        _publish(aftersale, order.order_no)
        _auto_process(aftersale, order)
    return aftersale


def _auto_process(aftersale: AfterSale, order: Order) -> None:
    if aftersale.type != T.REFUND_ONLY:
        return
    if order.status == OS.PENDING_PAYMENT:
        aftersale.approved_amount = ZERO
        _apply(aftersale, "approve", actor=AUTO_ACTOR, remark=_("Approved automatically: the order is unpaid."))
        order_cancel(order_no=order.order_no, actor=AUTO_ACTOR, reason=_("After-sale %(no)s") % {"no": aftersale})
        _apply(aftersale, "close_with_order", actor=AUTO_ACTOR, remark=_("The unpaid order was cancelled."))
        return
    if aftersale.source == AfterSaleSource.PLATFORM and paid_on_platform(order):
        # The platform decided this refund and pays the buyer back itself: record it and finish.
        aftersale.approved_amount = aftersale.requested_amount
        _apply(
            aftersale,
            "approve",
            actor=AUTO_ACTOR,
            remark=_("Approved automatically: the platform decided the refund."),
            update_fields=("approved_amount",),
        )
        _refund(aftersale, order, actor=AUTO_ACTOR)
        return
    if order.status not in PAID_NOT_SHIPPED_STATUSES or not _is_full_refund(order, aftersale.requested_amount):
        return
    if order.status == OS.PENDING_SHIPMENT:
        if not _nothing_handed_to_the_wms(order):
            return
        on_platform = paid_on_platform(order)
        aftersale.approved_amount = aftersale.requested_amount
        _apply(
            aftersale,
            "approve",
            actor=AUTO_ACTOR,
            remark=_("Approved automatically: nothing handed to the warehouse yet."),
            update_fields=("approved_amount",),
        )
        # order_cancel intercepts the fulfillments, releases the stock and refunds in full
        # itself (reference ``cancel:<order_no>``): this after-sale follows that refund.
        order_cancel(order_no=order.order_no, actor=AUTO_ACTOR, reason=_("After-sale %(no)s") % {"no": aftersale})
        if on_platform:
            # order_cancel refunds nothing the platform holds: record the platform's refund.
            _refund_on_platform(aftersale, order, actor=AUTO_ACTOR)
            return
        aftersale.refund_reference = f"cancel:{order.order_no}"
        _apply(
            aftersale,
            "start_refund",
            actor=AUTO_ACTOR,
            remark=_("Fulfillment intercepted; the order is refunded in full."),
            update_fields=("refund_reference",),
        )
        return
    aftersale.approved_amount = aftersale.requested_amount
    _apply(
        aftersale,
        "approve",
        actor=AUTO_ACTOR,
        remark=_("Approved automatically: the order has not been allocated to a warehouse."),
        update_fields=("approved_amount",),
    )
    _refund(aftersale, order, actor=AUTO_ACTOR)


# --- staff and requester steps ----------------------------------------------------------


def aftersale_approve(
    *,
    aftersale_no: str,
    actor: str,
    approved_amount: Decimal | None = None,
    receiving_warehouse_id: int | None = None,
    remark: str = "",
) -> AfterSale:
    """Approve a requested after-sale; return types then wait for the goods.

    ``approved_amount`` (refund types) may be lower than requested, never higher; the
    receiving warehouse defaults to the one that shipped the order.
    """
    with transaction.atomic():
        aftersale = _lock(aftersale_no)
        amount = aftersale.requested_amount if approved_amount is None else to_money(approved_amount)
        if amount < 0 or amount > aftersale.requested_amount:
            raise Unprocessable(
                AfterSaleErrorCode.INVALID_AMOUNT,
                _("The approved amount must be between 0 and the requested %(amount)s.")
                % {"amount": aftersale.requested_amount},
            )
        if aftersale.type in REFUND_TYPES and amount == 0:
            raise Unprocessable(AfterSaleErrorCode.INVALID_AMOUNT, _("A refund must be more than zero."))
        if aftersale.type in REFUND_TYPES:
            # The order may have been cancelled or refunded since the request.
            left = max(_not_yet_refunded(aftersale.order) - _claimed(aftersale.order, exclude_pk=aftersale.pk), ZERO)
            if amount > left:
                raise Conflict(
                    AfterSaleErrorCode.AMOUNT_EXCEEDS_REFUNDABLE,
                    _(
                        "Only %(left)s of order %(no)s can still be refunded (it was refunded or cancelled "
                        "since this request); approve less or reject it."
                    )
                    % {"left": to_money(left), "no": aftersale.order.order_no},
                    {"approved": str(amount), "refundable": str(to_money(left))},
                )
        aftersale.approved_amount = amount
        update_fields = ["approved_amount"]
        if aftersale.type in RETURN_TYPES:
            aftersale.receiving_warehouse_id = receiving_warehouse_id or _default_receiving_warehouse_id(
                aftersale.order
            )
            update_fields.append("receiving_warehouse")
        _apply(aftersale, "approve", actor=actor, remark=remark or _("Approved."), update_fields=tuple(update_fields))
        if aftersale.type in RETURN_TYPES:
            _apply(aftersale, "await_return", actor=actor, remark=_("Waiting for the buyer to send the goods back."))
    return aftersale


def aftersale_reject(*, aftersale_no: str, actor: str, reason: str) -> AfterSale:
    if not reason.strip():
        raise Unprocessable(AfterSaleErrorCode.INVALID_STATUS, _("Say why the request is rejected."))
    with transaction.atomic():
        aftersale = _lock(aftersale_no)
        aftersale.reject_reason = reason[:255]
        return _apply(aftersale, "reject", actor=actor, remark=reason, update_fields=("reject_reason",))


def aftersale_cancel(*, aftersale_no: str, actor: str, reason: str = "", shop_id: int | None = None) -> AfterSale:
    """The requester withdraws a request that nothing has been done for yet.

    A shop caller (``shop_id``) may withdraw only what its buyers opened, not what staff or
    the platform opened; staff may cancel any on the requester's behalf. Once the buyer has
    posted the goods back (return parcel recorded) nobody can: they are on their way to us.
    """
    with transaction.atomic():
        aftersale = _lock(aftersale_no)
        if shop_id is not None and aftersale.shop_id != shop_id:
            raise NotFound(
                AfterSaleErrorCode.AFTERSALE_NOT_FOUND,
                _("After-sale %(no)s does not exist.") % {"no": aftersale_no},
            )
        if shop_id is not None and aftersale.source != AfterSaleSource.BUYER:
            raise ApplicationError(
                AfterSaleErrorCode.NOT_REQUESTER,
                _("After-sale %(no)s was opened by %(source)s, not by your buyer: your shop cannot cancel it.")
                % {"no": aftersale_no, "source": aftersale.get_source_display()},
                {"source": aftersale.source},
                status_code=403,
            )
        if aftersale.status == A.AWAITING_RETURN and aftersale.return_tracking_no:
            raise Conflict(
                AfterSaleErrorCode.RETURN_ALREADY_SENT,
                _(
                    "The goods of after-sale %(no)s were already sent back (%(carrier)s %(tracking)s): "
                    "it can no longer be cancelled."
                )
                % {"no": aftersale_no, "carrier": aftersale.return_carrier, "tracking": aftersale.return_tracking_no},
                {"status": aftersale.status, "return_tracking_no": aftersale.return_tracking_no},
            )
        return _apply(aftersale, "cancel", actor=actor, remark=reason or _("Cancelled by the requester."))


def aftersale_return_shipment(
    *, aftersale_no: str, carrier: str, tracking_no: str, actor: str, shop_id: int | None = None
) -> AfterSale:
    """Record the buyer's return parcel (carrier and tracking number)."""
    with transaction.atomic():
        aftersale = _lock(aftersale_no)
        if shop_id is not None and aftersale.shop_id != shop_id:
            raise NotFound(
                AfterSaleErrorCode.AFTERSALE_NOT_FOUND,
                _("After-sale %(no)s does not exist.") % {"no": aftersale_no},
            )
        if aftersale.status != A.AWAITING_RETURN:
            raise Conflict(
                AfterSaleErrorCode.INVALID_STATUS,
                _("After-sale %(no)s is not waiting for a return parcel.") % {"no": aftersale_no},
                {"status": aftersale.status},
            )
        aftersale.return_carrier = carrier[:32]
        aftersale.return_tracking_no = tracking_no[:64]
        aftersale.save(update_fields=["return_carrier", "return_tracking_no", "updated_at"])
        _log(
            aftersale,
            from_status=aftersale.status,
            actor=actor,
            remark=_("Return parcel %(carrier)s %(tracking)s.") % {"carrier": carrier, "tracking": tracking_no},
        )
    return aftersale


def aftersale_receive(
    *,
    aftersale_no: str,
    actor: str,
    inspections: dict[int, str],
    warehouse_id: int | None = None,
    remark: str = "",
) -> AfterSale:
    """The returned goods arrived: inspect each line and put sellable goods back on hand.

    ``inspections`` maps each after-sale line id to ``sellable`` or ``damaged``; damaged
    goods are recorded by inventory without adding to on-hand stock.
    """
    with transaction.atomic():
        aftersale = _lock(aftersale_no)
        if aftersale.status != A.AWAITING_RETURN:
            raise Conflict(
                AfterSaleErrorCode.INVALID_STATUS,
                _("After-sale %(no)s is not waiting for returned goods.") % {"no": aftersale_no},
                {"status": aftersale.status},
            )
        lines = list(aftersale.lines.select_related("order_line").order_by("pk"))
        missing = [line.pk for line in lines if inspections.get(line.pk) not in Inspection.values]
        if missing:
            raise Unprocessable(
                AfterSaleErrorCode.INSPECTION_REQUIRED,
                _("Give an inspection result (sellable or damaged) for every line."),
                {"line_ids": missing},
            )
        warehouse_id = warehouse_id or aftersale.receiving_warehouse_id
        if warehouse_id is None:
            raise Unprocessable(
                AfterSaleErrorCode.WAREHOUSE_REQUIRED, _("Choose the warehouse that received the goods.")
            )
        for line in lines:
            line.inspection = inspections[line.pk]
            stock_return_to_stock(
                sku_id=line.order_line.sku_id,
                warehouse_id=warehouse_id,
                quantity=line.quantity,
                inspection=line.inspection,
                reference=f"{aftersale.aftersale_no}:{line.pk}",
                operator=actor,
                note=_("After-sale %(no)s return") % {"no": aftersale.aftersale_no},
            )
        AfterSaleLine.objects.bulk_update(lines, ["inspection"])
        aftersale.receiving_warehouse_id = warehouse_id
        summary = ", ".join(f"{line.order_line.sku_code} x{line.quantity} {line.inspection}" for line in lines)
        return _apply(
            aftersale,
            "receive",
            actor=actor,
            remark=f"{remark} {summary}".strip(),
            update_fields=("receiving_warehouse",),
        )


def _refund_on_platform(aftersale: AfterSale, order: Order, *, actor: str) -> AfterSale:
    """Record the refund of an order paid on the platform (reference ``AS:<no>``) and complete.

    The platform holds the money and gives it back to the buyer itself, so payments is not
    asked. A refund the platform decided is done; one our staff (or the buyer's API) opened
    must still be made on the platform, which the log and an alert for staff say.
    """
    amount = aftersale.approved_amount
    aftersale.refund_attempts = 1
    aftersale.refund_reference = aftersale_reference(aftersale, 1)
    order_record_refund(order_no=order.order_no, amount=amount, actor=actor, refund_id=aftersale.refund_reference)
    _apply(
        aftersale,
        "start_refund",
        actor=actor,
        remark=_("Refund of %(amount)s recorded on the order, which was paid on the platform.") % {"amount": amount},
        update_fields=("refund_attempts", "refund_reference"),
    )
    if aftersale.source == AfterSaleSource.PLATFORM:
        remark = _("%(amount)s refunded by the platform.") % {"amount": amount}
    else:
        remark = platform_refund_notice(aftersale, amount)
        logger.warning("after-sale %s: %s", aftersale.aftersale_no, remark)
        alert_raise(
            kind="platform_refund_to_make",
            dedup_key=f"platform-refund:{aftersale.aftersale_no}",
            message=remark,
            details={"aftersale_no": aftersale.aftersale_no, "order_no": order.order_no, "amount": str(amount)},
        )
    aftersale.refunded_amount = to_money(aftersale.refunded_amount + amount)
    return _apply(aftersale, "finish_refund", actor=actor, remark=remark, update_fields=("refunded_amount",))


def platform_refund_notice(aftersale: AfterSale, amount: Decimal) -> str:
    """What staff must do for a refund on an order paid on the platform that the platform did not decide."""
    return _(
        "Order %(order)s was paid on the platform: refund %(amount)s to the buyer on the platform "
        "(after-sale %(no)s); nothing was refunded through our payments."
    ) % {"order": aftersale.order.order_no, "amount": amount, "no": aftersale.aftersale_no}


def aftersale_needs_platform_refund(aftersale: AfterSale) -> bool:
    """A refund recorded for an order paid on the platform that staff must still make there."""
    return (
        aftersale.status == A.COMPLETED
        and aftersale.source != AfterSaleSource.PLATFORM
        and aftersale.refunded_amount > ZERO
        and paid_on_platform(aftersale.order)
    )


def _refund(aftersale: AfterSale, order: Order, *, actor: str) -> AfterSale:
    """Ask payments for the approved amount less what earlier attempts already gave back; a
    full refund first moves the order to refunding.

    An order paid on the platform is refunded there: the refund is recorded on the order
    and the after-sale completes (``_refund_on_platform``).
    """
    amount = aftersale.approved_amount - aftersale.refunded_amount
    on_platform = paid_on_platform(order)
    # A full refund moves the order to refunding where it can; any other is logged on the
    # order. An order awaiting shipment refunds in full only by being cancelled (for money
    # the platform holds, recording the full refund cancels it).
    if not (_is_full_refund(order, amount) and order.status == OS.PENDING_SHIPMENT):
        order_request_refund(
            order_no=order.order_no, amount=amount, actor=actor, remark=_("After-sale %(no)s") % {"no": aftersale}
        )
    if on_platform:
        return _refund_on_platform(aftersale, order, actor=actor)
    aftersale.refund_attempts += 1
    aftersale.refund_reference = aftersale_reference(aftersale, aftersale.refund_attempts)
    aftersale.refunded_before_attempt = aftersale.refunded_amount
    refund_request_for_order(
        order_no=order.order_no,
        amount=amount,
        reason=aftersale.reason,
        reference=aftersale.refund_reference,
        actor=actor,
    )
    return _apply(
        aftersale,
        "start_refund",
        actor=actor,
        remark=_("Refund of %(amount)s requested.") % {"amount": amount},
        update_fields=("refund_attempts", "refund_reference", "refunded_before_attempt"),
    )


def aftersale_refund(*, aftersale_no: str, actor: str) -> AfterSale:
    """Refund an approved refund-only, a received return, or retry a failed refund.

    Two concurrent calls serialise on the after-sale row: the second finds it ``refunding``
    and gets 409, so the money goes back once.
    """
    with transaction.atomic():
        aftersale = _lock(aftersale_no)
        _require(aftersale, "start_refund")
        order = Order.objects.select_for_update().get(pk=aftersale.order_id)
        return _refund(aftersale, order, actor=actor)


def aftersale_ship_replacement(*, aftersale_no: str, actor: str) -> AfterSale:
    """Send the replacement (exchange, after the return arrived) or the missing items (reissue)."""
    with transaction.atomic():
        aftersale = _lock(aftersale_no)
        _require(aftersale, "start_shipping")
        items = [
            (line.order_line_id, line.exchange_sku_id or line.order_line.sku_id, line.quantity)
            for line in aftersale.lines.select_related("order_line").order_by("pk")
        ]
        fulfillment = fulfillment_create_extra(
            order_no=aftersale.order.order_no,
            kind=aftersale.type,
            source_reference=aftersale.aftersale_no,
            items=items,
            actor=actor,
        )
        aftersale.fulfillment_no = fulfillment.fulfillment_no
        return _apply(
            aftersale,
            "start_shipping",
            actor=actor,
            remark=_("Fulfillment %(no)s created.") % {"no": fulfillment.fulfillment_no},
            update_fields=("fulfillment_no",),
        )


# --- outcomes reported by other apps (outbox consumers) -----------------------------------


def aftersale_refund_settled(*, order_no: str, reference: str, actor: str) -> AfterSale | None:
    """A refund row finished at the provider (succeeded or failed: the request's rows are read
    again). Idempotent: a repeated event changes nothing. Returns the after-sale it settled.

    Our own refunds carry ``AS:<no>[:attempt]``; the refund ``order_cancel`` makes when it
    intercepts an order (``cancel:<order_no>``) settles the after-sale that cancelled it.
    Only the after-sale's current refund reference counts: an older attempt changes nothing.
    A request split over several payments settles once none of its rows is still under way:
    completed when all succeeded, failed (with what did go back kept in ``refunded_amount``,
    so a retry asks only for the rest) when one failed. A success reported for a refund we
    had marked failed (and not retried) completes the after-sale once nothing failed remains.
    """
    with transaction.atomic():
        aftersale_no = aftersale_no_from_reference(reference)
        query = AfterSale.objects.select_for_update().filter(order__order_no=order_no, refund_reference=reference)
        if aftersale_no is not None:
            query = query.filter(aftersale_no=aftersale_no)
        aftersale = query.order_by("pk").first()
        if aftersale is None or aftersale.status not in (A.REFUNDING, A.REFUND_FAILED):
            return None
        state = refund_request_state(reference)
        if state.open > ZERO:
            return None  # another part of the request is still on its way
        refunded = aftersale.refunded_before_attempt + state.succeeded
        changed = refunded != aftersale.refunded_amount
        aftersale.refunded_amount = refunded
        if state.failed > ZERO:
            if aftersale.status == A.REFUND_FAILED:
                if changed:
                    aftersale.save(update_fields=["refunded_amount"])
                return None
            return _apply(
                aftersale,
                "fail_refund",
                actor=actor,
                remark=_("The refund failed at the payment provider; retry it."),
                update_fields=("refunded_amount",),
            )
        if aftersale.status == A.REFUND_FAILED:
            # The provider reported success after we marked the refund failed: the money went back.
            alert_resolve(dedup_key=f"aftersale-refund-failed:{aftersale.aftersale_no}")
        return _apply(
            aftersale,
            "finish_refund",
            actor=actor,
            remark=_("%(amount)s refunded.") % {"amount": state.succeeded},
            update_fields=("refunded_amount",),
        )


def aftersale_replacement_shipped(*, aftersale_no: str, fulfillment_no: str, actor: str) -> AfterSale | None:
    """The replacement fulfillment left the warehouse: the after-sale is done. Idempotent."""
    with transaction.atomic():
        aftersale = AfterSale.objects.select_for_update().filter(aftersale_no=aftersale_no).first()
        if aftersale is None or aftersale.status != A.SHIPPING or aftersale.fulfillment_no != fulfillment_no:
            return None
        return _apply(
            aftersale, "finish_shipping", actor=actor, remark=_("Fulfillment %(no)s shipped.") % {"no": fulfillment_no}
        )
