"""Status changes after creation: payment, timeout, cancellation, refunds.

Each service locks the order row (``order_lock``) and changes the status only through
``order_apply_transition``, so of two racing changes (a payment and the timeout, two
cancels) the database decides the winner and the loser gets a 409.
"""

import logging
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import can_proceed

from apps.core.alerts import alert_raise
from apps.core.db import skip_locked
from apps.core.exceptions import Conflict
from apps.core.money import ZERO, to_money
from apps.inventory.services import stock_release
from apps.orders.error_codes import OrderErrorCode
from apps.orders.models import (
    FS,
    Fulfillment,
    FulfillmentLine,
    Order,
    OrderMoneyEvent,
    OrderStatus,
    OrderStatusLog,
)
from apps.orders.services.common import order_apply_transition, order_lock, order_record_change
from apps.orders.services.create import order_amount
from apps.orders.services.fulfillment import fulfillment_publish
from apps.payments.selectors import payments_paid_total, refunds_succeeded_total, refunds_total
from apps.payments.services import refund_request, refund_request_for_order

logger = logging.getLogger(__name__)

S = OrderStatus
CLOSED_UNPAID = frozenset({S.CANCELLED, S.PAYMENT_TIMEOUT})


def _money_text(amount: Decimal) -> str:
    return f"{to_money(amount):.2f}"


def _pay_locked(*, order: Order, amount: Decimal, paid_at: datetime, method: str, actor: str) -> Order:
    if order.status == S.PENDING_PAYMENT and amount != order.payable_amount:
        raise Conflict(
            OrderErrorCode.PAYMENT_AMOUNT_MISMATCH,
            _("Paid %(amount)s but order %(order_no)s is payable %(payable)s.")
            % {"amount": _money_text(amount), "order_no": order.order_no, "payable": _money_text(order.payable_amount)},
            {"amount": _money_text(amount), "payable": _money_text(order.payable_amount)},
        )
    order.paid_amount += amount
    order.paid_at = paid_at
    order.payment_method = (method or "")[:16]
    return order_apply_transition(
        order=order,
        transition="pay",
        actor=actor,
        remark=_("Paid %(amount)s by %(method)s.") % {"amount": _money_text(amount), "method": method},
        update_fields=("paid_amount", "paid_at", "payment_method"),
    )


def order_mark_paid(*, order_no: str, amount: Decimal, paid_at: datetime, method: str, actor: str) -> Order:
    """``pending_payment`` -> ``paid``; the amount must equal the payable amount."""
    amount = order_amount(amount, "amount")
    with transaction.atomic():
        order = order_lock(order_no=order_no)
        return _pay_locked(order=order, amount=amount, paid_at=paid_at, method=method, actor=actor)


def order_payment_received(
    *, order_no: str, out_trade_no: str, amount: Decimal, paid_at: datetime, method: str, actor: str
) -> Order:
    """Apply a provider's successful payment (``payment.succeeded``), once per trade.

    A payable order is marked paid. Money the order can no longer take (it was closed
    first, was already paid by another payment, or the amount is wrong) is still the
    buyer's: it is recorded on the order and refunded in full automatically, to the trade
    ``out_trade_no`` that paid it (reference ``late:<out_trade_no>``).
    """
    amount = order_amount(amount, "amount")
    with transaction.atomic():
        order = order_lock(order_no=order_no)
        if OrderMoneyEvent.objects.filter(kind=OrderMoneyEvent.Kind.PAYMENT, reference=out_trade_no).exists():
            return order
        first_payment = not OrderMoneyEvent.objects.filter(order=order, kind=OrderMoneyEvent.Kind.PAYMENT).exists()
        OrderMoneyEvent.objects.create(
            order=order, kind=OrderMoneyEvent.Kind.PAYMENT, reference=out_trade_no, amount=amount
        )
        if order.status == S.PENDING_PAYMENT and amount == order.payable_amount:
            return _pay_locked(order=order, amount=amount, paid_at=paid_at, method=method, actor=actor)
        if order.status not in CLOSED_UNPAID and order.status != S.PENDING_PAYMENT:
            if first_payment and amount == order.paid_amount:
                # Marked paid directly (order_mark_paid) before this event: the same money.
                return order
            remark = _("Duplicate payment %(reference)s of %(amount)s; refunded automatically.")
        elif order.status == S.PENDING_PAYMENT:
            remark = _("Payment %(reference)s of %(amount)s does not match the payable amount; refunded automatically.")
        else:
            remark = _("Paid after close: payment %(reference)s of %(amount)s; refunded automatically.")
        remark = remark % {"reference": out_trade_no, "amount": _money_text(amount)}
        logger.warning("order %s: %s", order.order_no, remark)
        order.paid_amount += amount
        order_record_change(order=order, actor=actor, remark=remark, update_fields=("paid_amount",))
        # Back to the trade that made this payment, whatever the order's other payments hold.
        refund_request(
            out_trade_no=out_trade_no, amount=amount, reason=remark, reference=f"late:{out_trade_no}", actor=actor
        )
        return order


def _expire_locked(*, order: Order, actor: str) -> Order:
    order.closed_at = timezone.now()
    order_apply_transition(
        order=order,
        transition="expire",
        actor=actor,
        remark=_("Not paid by the deadline."),
        update_fields=("closed_at",),
    )
    stock_release(reference=order.order_no, operator=actor)
    return order


def order_expire(*, order_no: str, actor: str) -> Order | None:
    """Close an unpaid order whose deadline has passed and release its stock.

    Returns None (and changes nothing) when the order is no longer pending payment or its
    deadline is still ahead: the countdown task and the sweep may both arrive, in any order.
    """
    with transaction.atomic():
        order = order_lock(order_no=order_no)
        if order.status != S.PENDING_PAYMENT:
            return None
        if order.payment_deadline is not None and order.payment_deadline > timezone.now():
            return None
        return _expire_locked(order=order, actor=actor)


def order_expire_overdue(*, actor: str, batch_size: int | None = None) -> list[str]:
    """Close every pending order past its deadline (the beat backstop for lost countdowns).

    Candidates come from the (status, payment_deadline) index in id order; each order is
    expired in its own transaction under a ``SKIP LOCKED`` row lock, so a concurrent sweep
    or a payment holding the row is passed over rather than waited for, and an order whose
    status changed meanwhile is skipped. Returns the numbers of the orders it closed.
    """
    batch_size = batch_size or settings.ORDER_EXPIRE_BATCH
    now = timezone.now()
    expired: list[str] = []
    last_id = 0
    while True:
        ids = list(
            Order.objects.filter(status=S.PENDING_PAYMENT, payment_deadline__lte=now, id__gt=last_id)
            .order_by("id")
            .values_list("id", flat=True)[:batch_size]
        )
        for pk in ids:
            with transaction.atomic():
                order = (
                    Order.objects.select_for_update(skip_locked=skip_locked())
                    .filter(pk=pk, status=S.PENDING_PAYMENT, payment_deadline__lte=now)
                    .first()
                )
                if order is not None:
                    _expire_locked(order=order, actor=actor)
                    expired.append(order.order_no)
        if len(ids) < batch_size:
            return expired
        last_id = ids[-1]


def _cancel_fulfillments(*, order: Order) -> list[Fulfillment]:
    """Cancel the order's packages that have not shipped. A package merged with other
    orders loses only this order's lines while pending and unclaimed; once claimed for or
    at the WMS it is refused (the WMS cannot take part of a parcel back)."""
    rows = list(
        FulfillmentLine.objects.filter(fulfillment__lines__order_line__order=order)
        .values_list("fulfillment_id", "order_line__order_id", "order_line__order__order_no")
        .distinct()
    )
    ids = sorted({fulfillment_id for fulfillment_id, _order_id, _no in rows})
    fulfillments = list(Fulfillment.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    cancelled = []
    for fulfillment in fulfillments:
        if fulfillment.status == FS.CANCELLED:
            continue
        if fulfillment.status == FS.SHIPPED:
            raise Conflict(
                OrderErrorCode.FULFILLMENT_SHIPPED,
                _("Package %(no)s has already shipped; the order can no longer be cancelled.")
                % {"no": fulfillment.fulfillment_no},
                {"fulfillment_no": fulfillment.fulfillment_no},
            )
        others = {no for fid, order_id, no in rows if fid == fulfillment.pk and order_id != order.pk}
        if others:
            # Claimed (sent_to_wms_at set) means the WMS may already hold the whole parcel.
            if fulfillment.status != FS.PENDING or fulfillment.sent_to_wms_at is not None:
                raise Conflict(
                    OrderErrorCode.FULFILLMENT_MERGED,
                    _("Package %(no)s, merged with other orders, is already at the warehouse.")
                    % {"no": fulfillment.fulfillment_no},
                    {"fulfillment_no": fulfillment.fulfillment_no, "order_nos": sorted(others)},
                )
            FulfillmentLine.objects.filter(fulfillment=fulfillment, order_line__order=order).delete()
            continue
        fulfillment.cancel()
        fulfillment.save(update_fields=["status"])
        fulfillment_publish(fulfillment, order_nos=[order.order_no])
        cancelled.append(fulfillment)
    return cancelled


def _cancel_locked(*, order: Order, actor: str, reason: str, remark: str, update_fields: tuple[str, ...] = ()) -> Order:
    """Cancel a locked order (intercepting its unshipped packages) and release its stock."""
    if order.status == S.PENDING_SHIPMENT:
        _cancel_fulfillments(order=order)
    order.cancel_reason = reason[:255]
    order.closed_at = timezone.now()
    order_apply_transition(
        order=order,
        transition="cancel",
        actor=actor,
        remark=remark,
        update_fields=("cancel_reason", "closed_at", *update_fields),
    )
    stock_release(reference=order.order_no, operator=actor)
    return order


def order_cancel(*, order_no: str, actor: str, reason: str) -> Order:
    """Cancel an unpaid order, or intercept one awaiting shipment: its unshipped packages
    are cancelled, its stock released and what it paid through our payments and is not
    already refunded or being refunded given back through the payments that hold it
    (``refund_request_for_order`` with reference ``cancel:<order_no>``)."""
    reason = (reason or "").strip()
    with transaction.atomic():
        order = order_lock(order_no=order_no)
        intercepted = order.status == S.PENDING_SHIPMENT
        _cancel_locked(order=order, actor=actor, reason=reason, remark=reason or _("Cancelled."))
        # Refunds already requested or processing count too: payments refuses more than is left.
        refundable = min(
            order.paid_amount - order.refunded_amount,
            payments_paid_total(order.order_no) - refunds_total(order.order_no),
        )
        if intercepted and refundable > ZERO:
            # Money collected through our payments goes back through them; a platform
            # order's refund happens on the platform (its after-sale flow).
            refund_request_for_order(
                order_no=order.order_no,
                amount=refundable,
                reason=reason or _("Order cancelled before shipment."),
                reference=f"cancel:{order.order_no}",
                actor=actor,
            )
        return order


def _refund_exceeds(order: Order, amount: Decimal, refundable: Decimal) -> Conflict:
    return Conflict(
        OrderErrorCode.REFUND_EXCEEDS_PAID,
        _("Refund of %(amount)s exceeds the %(refundable)s still refundable on order %(order_no)s.")
        % {"amount": _money_text(amount), "refundable": _money_text(refundable), "order_no": order.order_no},
        {"amount": _money_text(amount), "refundable": _money_text(refundable)},
    )


def _refunds_committed(order: Order) -> Decimal:
    """What has gone back or is on its way back: the refunds recorded on the order plus those
    our payments still process, or payments' own total when the order has not yet heard of
    a refund that succeeded."""
    counting = refunds_total(order.order_no)
    in_flight = counting - refunds_succeeded_total(order.order_no)
    return max(order.refunded_amount + in_flight, counting)


def order_request_refund(*, order_no: str, amount: Decimal, actor: str, remark: str = "") -> Order:
    """Note that a refund was requested (the caller then asks payments for the money).

    What is still refundable is what was paid minus the refunds recorded or still being
    processed by payments (``_refunds_committed``). A refund of everything still refundable moves a paid, held, failed-delivery or delivered
    order to ``refunding`` (an unshipped order's stock is released); a shipped order stays
    shipped until the refund lands (``order_record_refund`` intercepts it). A partial refund
    only logs. An order awaiting shipment must be cancelled instead (``order_cancel``).
    """
    amount = order_amount(amount, "amount")
    with transaction.atomic():
        order = order_lock(order_no=order_no)
        refundable = max(order.paid_amount - _refunds_committed(order), ZERO)
        if amount <= ZERO or amount > refundable:
            raise _refund_exceeds(order, amount, refundable)
        text = _("Refund of %(amount)s requested.") % {"amount": _money_text(amount)}
        remark = f"{text} {remark}".strip()
        full = amount == refundable
        if full and order.status == S.PENDING_SHIPMENT:
            raise Conflict(
                OrderErrorCode.INVALID_STATUS,
                _("Order %(order_no)s awaits shipment: cancel it to refund in full.") % {"order_no": order_no},
                {"status": order.status},
            )
        if full and can_proceed(order.start_refund):
            release = order.status in (S.PAID, S.ON_HOLD)
            order_apply_transition(order=order, transition="start_refund", actor=actor, remark=remark)
            if release:
                stock_release(reference=order.order_no, operator=actor)
            return order
        return order_record_change(order=order, actor=actor, remark=remark, update_fields=())


def order_record_refund(*, order_no: str, amount: Decimal, actor: str, refund_id: str = "") -> Order:
    """Record money refunded to the buyer (``refund.succeeded``), once per ``refund_id``.

    When everything paid has come back, the order must not ship any more, however the
    refund was made (an after-sale, the finance admin, the platform): a ``refunding`` order
    becomes ``refunded``; a ``paid``/``on_hold`` one releases its stock and goes through
    ``refunding`` to ``refunded``; one awaiting shipment is cancelled (its packages
    intercepted as ``order_cancel`` does, without asking for another refund); a delivered
    or failed-delivery one goes through ``refunding`` to ``refunded``; a ``shipped`` one is
    intercepted in transit (``refunded``). A ``delivering`` one has no refunding edge: the
    refund is logged and the carrier's next report (delivered or failed) moves it on
    (``order_delivery_update``). Otherwise the refund is logged.
    """
    amount = order_amount(amount, "amount")
    with transaction.atomic():
        order = order_lock(order_no=order_no)
        if refund_id:
            if OrderMoneyEvent.objects.filter(kind=OrderMoneyEvent.Kind.REFUND, reference=refund_id).exists():
                return order
            OrderMoneyEvent.objects.create(
                order=order, kind=OrderMoneyEvent.Kind.REFUND, reference=refund_id, amount=amount
            )
        order.refunded_amount = min(order.paid_amount, order.refunded_amount + amount)
        remark = _("Refunded %(amount)s (%(total)s of %(paid)s paid).") % {
            "amount": _money_text(amount),
            "total": _money_text(order.refunded_amount),
            "paid": _money_text(order.paid_amount),
        }
        fully = order.refunded_in_full
        if fully and order.status == S.REFUNDING:
            return order_apply_transition(
                order=order, transition="finish_refund", actor=actor, remark=remark, update_fields=("refunded_amount",)
            )
        if fully and order.status == S.SHIPPED:
            return order_apply_transition(
                order=order,
                transition="intercept_in_transit",
                actor=actor,
                remark=remark,
                update_fields=("refunded_amount",),
            )
        if fully and order.status in (S.PAID, S.ON_HOLD, S.DELIVERED, S.DELIVERY_FAILED):
            release = order.status in (S.PAID, S.ON_HOLD)
            order_apply_transition(
                order=order, transition="start_refund", actor=actor, remark=remark, update_fields=("refunded_amount",)
            )
            if release:
                stock_release(reference=order.order_no, operator=actor)
            return order_apply_transition(
                order=order, transition="finish_refund", actor=actor, remark=_("Refunded in full.")
            )
        if fully and order.status == S.PENDING_SHIPMENT:
            return _cancel_refunded_locked(order=order, actor=actor, remark=remark)
        return order_record_change(order=order, actor=actor, remark=remark, update_fields=("refunded_amount",))


def _cancel_refunded_locked(*, order: Order, actor: str, remark: str) -> Order:
    """Cancel an order awaiting shipment whose money all went back; when a package can no
    longer be intercepted (shipped, or merged and at the WMS) only the refund is recorded
    and an alert asks staff to stop the goods."""
    reason = _("Refunded in full before shipment.")
    try:
        with transaction.atomic():
            return _cancel_locked(
                order=order, actor=actor, reason=reason, remark=f"{remark} {reason}", update_fields=("refunded_amount",)
            )
    except Conflict as exc:
        logger.warning("order %s refunded in full but not intercepted: %s", order.order_no, exc.message)
        alert_raise(
            kind="order_refunded_not_intercepted",
            dedup_key=f"order-refunded-not-intercepted:{order.order_no}",
            message=_("Order %(order_no)s was refunded in full but cannot be cancelled: %(reason)s")
            % {"order_no": order.order_no, "reason": exc.message},
            details={"order_no": order.order_no, "code": exc.code, **exc.extra},
        )
        return order_record_change(order=order, actor=actor, remark=remark, update_fields=("refunded_amount",))


def order_note_amount_mismatch(*, order_no: str, payment_id: str, amount: str, expected: str, actor: str) -> bool:
    """Log a payment whose amount differs from the order's (``payment.amount_mismatch``) on
    the order's timeline for finance; nothing is held. Returns False if already noted."""
    remark = _("Payment %(payment)s of %(amount)s does not match the expected %(expected)s; finance to review.") % {
        "payment": payment_id,
        "amount": amount,
        "expected": expected,
    }
    with transaction.atomic():
        order = order_lock(order_no=order_no)
        if OrderStatusLog.objects.filter(order=order, remark=remark[:500]).exists():
            return False
        logger.warning("order %s: %s", order_no, remark)
        OrderStatusLog.objects.create(
            order=order, from_status=order.status, to_status=order.status, operator=actor, remark=remark[:500]
        )
        return True
