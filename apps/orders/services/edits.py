"""Edits that keep the status: recipient and address, seller remark, and (while unpaid)
the lines. Each is logged on the order's timeline and published as ``order.updated``.
Each takes the ``expected_version`` the caller read: a stale one changes nothing (412)."""

from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from apps.core.exceptions import Conflict
from apps.core.money import ZERO
from apps.inventory.services import stock_release
from apps.orders.error_codes import OrderErrorCode
from apps.orders.models import FS, NOT_SHIPPED_STATUSES, Fulfillment, Order, OrderLine, OrderStatus
from apps.orders.services.common import order_lock, order_record_change, order_shop_warehouse_ids
from apps.orders.services.create import (
    OrderLineInput,
    RecipientInput,
    order_amount,
    order_build_lines,
    order_clean_recipient,
    order_invalid,
    order_lines_insert_and_reserve,
    order_price,
    recipient_model_fields,
)
from apps.orders.services.merge import order_detach_from_merged
from apps.orders.services.pricing import order_check_discount

S = OrderStatus


def _invalid_status(order: Order, message: str) -> Conflict:
    return Conflict(OrderErrorCode.INVALID_STATUS, message % {"order_no": order.order_no}, {"status": order.status})


def order_update_address(
    *, order_no: str, recipient: RecipientInput, actor: str, expected_version: int | None = None
) -> Order:
    """Change the recipient and address until the warehouse has the order (no package of
    it claimed for or sent to the WMS, or shipped). A pending package merged with other
    orders of the old address is split: this order's lines move to a package of their own."""
    fields = recipient_model_fields(order_clean_recipient(recipient))
    with transaction.atomic():
        order = order_lock(order_no=order_no, expected_version=expected_version)
        if order.status not in NOT_SHIPPED_STATUSES:
            raise _invalid_status(order, _("The address of order %(order_no)s can no longer change."))
        at_wms = (
            Fulfillment.objects.filter(lines__order_line__order=order)
            .filter(Q(status__in=(FS.SENT_TO_WMS, FS.SHIPPED)) | Q(status=FS.PENDING, sent_to_wms_at__isnull=False))
            .exists()
        )
        if at_wms:
            raise Conflict(
                OrderErrorCode.SENT_TO_WMS,
                _("Order %(order_no)s is already at the warehouse; its address can no longer change.")
                % {"order_no": order_no},
            )
        changed = [name for name, value in fields.items() if getattr(order, name) != value]
        if not changed:
            return order
        order_detach_from_merged(order=order, actor=actor)
        for name in changed:
            setattr(order, name, fields[name])
        return order_record_change(
            order=order, actor=actor, remark=_("Recipient or address changed."), update_fields=tuple(changed)
        )


def order_update_remark(*, order_no: str, remark: str, actor: str, expected_version: int | None = None) -> Order:
    """Set the seller's remark (visible to staff and the warehouse), in any status."""
    remark = (remark or "").strip()
    if len(remark) > 500:
        raise order_invalid({"remark": [_("At most %(limit)d characters.") % {"limit": 500}]})
    with transaction.atomic():
        order = order_lock(order_no=order_no, expected_version=expected_version)
        if order.seller_remark == remark:
            return order
        order.seller_remark = remark
        return order_record_change(
            order=order,
            actor=actor,
            remark=_("Seller remark: %(remark)s") % {"remark": remark} if remark else _("Seller remark cleared."),
            update_fields=("seller_remark",),
        )


def order_change_lines(
    *,
    order_no: str,
    lines: list[OrderLineInput],
    actor: str,
    shipping_fee: Decimal | None = None,
    expected_version: int | None = None,
    storefront: bool = False,
) -> Order:
    """Replace an unpaid order's lines: re-priced (the order discount stays, the shipping
    fee follows the rule unless given) and re-reserved, all or nothing. Lines whose total
    falls below the order discount are refused (``validation_error``), nothing changed.
    A ``storefront`` change (the shop's app) is priced and its discounts checked as at
    creation (``price_mismatch``, ``discount_not_allowed``)."""
    fee = None if shipping_fee is None else order_amount(shipping_fee, "shipping_fee")
    with transaction.atomic():
        order = order_lock(order_no=order_no, expected_version=expected_version)
        if order.status != S.PENDING_PAYMENT:
            raise _invalid_status(order, _("Only an unpaid order's lines can change (order %(order_no)s)."))
        shop = order.shop if storefront else None
        built_lines = order_build_lines(lines, shop=shop, storefront=shop is not None)
        if shop is not None:
            order_check_discount(shop=shop, lines=built_lines, discount_amount=order.discount_amount)
        order.total_amount = sum((line.line_total for line in built_lines), ZERO)
        order.shipping_fee, order.payable_amount = order_price(
            goods_total=order.total_amount, discount_amount=order.discount_amount, shipping_fee=fee
        )
        stock_release(reference=order.order_no, operator=actor)
        OrderLine.objects.filter(order=order).delete()
        order_lines_insert_and_reserve(
            order=order, lines=built_lines, warehouse_ids=order_shop_warehouse_ids(order), actor=actor
        )
        summary = ", ".join(f"{line.sku_code} x{line.quantity}" for line in built_lines)
        return order_record_change(
            order=order,
            actor=actor,
            remark=_("Lines changed: %(lines)s; payable %(payable)s.")
            % {"lines": summary, "payable": f"{order.payable_amount:.2f}"},
            update_fields=("total_amount", "shipping_fee", "payable_amount"),
        )
