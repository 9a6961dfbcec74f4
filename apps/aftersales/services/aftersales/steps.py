"""The staff's and the requester's steps: approve, reject, cancel, the return parcel and its
receipt."""

from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from apps.aftersales.error_codes import AfterSaleErrorCode
from apps.aftersales.models import (
    REFUND_TYPES,
    RETURN_TYPES,
    AfterSale,
    AfterSaleLine,
    AfterSaleSource,
    Inspection,
)
from apps.aftersales.services.aftersales.common import (
    A,
    _apply,
    _claimed,
    _default_receiving_warehouse_id,
    _lock,
    _log,
    _not_yet_refunded,
)
from apps.core.exceptions import ApplicationError, Conflict, NotFound, Unprocessable
from apps.core.money import ZERO, to_money
from apps.inventory.services import stock_return_to_stock


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
