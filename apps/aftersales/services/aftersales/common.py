"""What every after-sale step shares: inputs and references, locking, logging and publishing,
and the checks of lines, types and amounts against the order."""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils.translation import gettext as _
from django_fsm import can_proceed

from apps.aftersales.error_codes import AfterSaleErrorCode
from apps.aftersales.models import (
    REFUND_TYPES,
    UNREFUNDED_STATUSES,
    AfterSale,
    AfterSaleLine,
    AfterSaleLog,
    AfterSaleStatus,
    AfterSaleType,
)
from apps.core.exceptions import ApplicationError, Conflict, NotFound, Unprocessable
from apps.core.money import ZERO, to_money
from apps.core.outbox import outbox_publish
from apps.inventory.models import Sku
from apps.orders.models import (
    FS,
    SHIPPED_STATUSES,
    Fulfillment,
    Order,
    OrderLine,
    OrderStatus,
    refunds_cover_payment,
)
from apps.payments.selectors import payments_paid_total, refunds_total

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
