"""Settling an approved after-sale: its refund (through payments, or recorded for money the
platform holds) or its replacement parcel."""

import logging
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from apps.aftersales.models import AfterSale, AfterSaleSource
from apps.aftersales.services.aftersales.common import (
    OS,
    A,
    _apply,
    _is_full_refund,
    _lock,
    _require,
    aftersale_reference,
    paid_on_platform,
)
from apps.core.alerts import alert_raise
from apps.core.money import ZERO, to_money
from apps.orders.models import Order
from apps.orders.services import order_record_refund, order_request_refund
from apps.orders.services.fulfillment import fulfillment_create_extra
from apps.payments.services import refund_request_for_order

logger = logging.getLogger(__name__)


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
