"""Opening an after-sale, and what is decided at once (a cancellation, a full refund of an
unshipped order, a platform's own refund)."""

from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from apps.aftersales.error_codes import AfterSaleErrorCode
from apps.aftersales.models import (
    AfterSale,
    AfterSaleLine,
    AfterSaleSource,
)
from apps.aftersales.services.aftersales.common import (
    AUTO_ACTOR,
    OS,
    AfterSaleLineInput,
    T,
    _apply,
    _is_full_refund,
    _log,
    _nothing_handed_to_the_wms,
    _publish,
    _validate_amount,
    _validate_lines,
    _validate_type_for_order,
    paid_on_platform,
)
from apps.aftersales.services.aftersales.settle import _refund, _refund_on_platform
from apps.core.exceptions import NotFound, Unprocessable
from apps.core.money import ZERO
from apps.core.numbers import next_number
from apps.orders.models import PAID_NOT_SHIPPED_STATUSES, Order
from apps.orders.services import order_cancel, orders_restore


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
