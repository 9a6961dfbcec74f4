"""Delivery reports from the carrier, and completing delivered orders."""

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.exceptions import ApplicationError, Conflict
from apps.orders.models import (
    Order,
    OrderStatus,
    OrderStatusLog,
)
from apps.orders.services.common import order_apply_transition, order_lock
from apps.orders.services.fulfillment.common import FulfillmentErrorCode

DELIVERY_STATUSES = (OrderStatus.DELIVERING, OrderStatus.DELIVERED, OrderStatus.DELIVERY_FAILED)
# The transitions that bring an order from its current status to a reported one. A carrier
# may skip the "delivering" scan; a re-delivery goes delivery_failed -> delivering.
_DELIVERY_PATHS = {
    (OrderStatus.SHIPPED, OrderStatus.DELIVERING): ("start_delivery",),
    (OrderStatus.DELIVERY_FAILED, OrderStatus.DELIVERING): ("start_delivery",),
    (OrderStatus.SHIPPED, OrderStatus.DELIVERED): ("start_delivery", "deliver"),
    (OrderStatus.DELIVERING, OrderStatus.DELIVERED): ("deliver",),
    (OrderStatus.DELIVERY_FAILED, OrderStatus.DELIVERED): ("start_delivery", "deliver"),
    (OrderStatus.SHIPPED, OrderStatus.DELIVERY_FAILED): ("start_delivery", "fail_delivery"),
    (OrderStatus.DELIVERING, OrderStatus.DELIVERY_FAILED): ("fail_delivery",),
}
# Reports that arrive after a later one (a "delivering" scan after "delivered") are ignored.
_STALE = {
    OrderStatus.DELIVERED: {OrderStatus.DELIVERING, OrderStatus.DELIVERY_FAILED},
    OrderStatus.COMPLETED: set(DELIVERY_STATUSES),
}


def _is_stale(order: Order, status: str) -> bool:
    if status in _STALE.get(order.status, ()):
        return True
    if order.status != OrderStatus.REFUNDED:
        return False
    # Refunded in full during its delivery: a repeated scan of a delivery step it passed.
    passed = set(
        OrderStatusLog.objects.filter(order=order, to_status__in=DELIVERY_STATUSES).values_list("to_status", flat=True)
    )
    return status in passed or (status == OrderStatus.DELIVERING and bool(passed))


def _refund_if_refunded_in_full(order: Order, *, actor: str) -> bool:
    """Move a delivered or failed-delivery order whose money has all gone back (refunded
    while it was in delivery, where DESIGN has no refunding edge) on to ``refunded``."""
    if not order.refunded_in_full:
        return False
    order_apply_transition(
        order=order,
        transition="start_refund",
        actor=actor,
        remark=_("Refunded in full while in delivery (%(amount)s).") % {"amount": f"{order.refunded_amount:.2f}"},
    )
    order_apply_transition(order=order, transition="finish_refund", actor=actor, remark=_("Refunded in full."))
    return True


def order_delivery_update(*, order_no: str, status: str, actor: str, remark: str = "") -> Order:
    """Apply a carrier's report (delivering / delivered / delivery_failed) to a shipped order.

    A repeated or stale report changes nothing; any other report the order cannot take
    from its current status is a 409. An order refunded in full while it was being
    delivered goes on from delivered (or delivery_failed) to ``refunded`` in the same
    transaction.
    """
    if status not in DELIVERY_STATUSES:
        raise ApplicationError(
            FulfillmentErrorCode.INVALID_DELIVERY_STATUS,
            _("Delivery status must be one of: %(statuses)s.") % {"statuses": ", ".join(DELIVERY_STATUSES)},
            {"status": status},
        )
    with transaction.atomic():
        order = order_lock(order_no=order_no)
        if order.status == status or _is_stale(order, status):
            return order
        path = _DELIVERY_PATHS.get((order.status, status))
        if path is None:
            raise Conflict(
                FulfillmentErrorCode.INVALID_DELIVERY_STATUS,
                _("Order %(order_no)s is %(status)s and cannot become %(target)s.")
                % {"order_no": order_no, "status": order.get_status_display(), "target": OrderStatus(status).label},
                {"status": order.status},
            )
        for transition in path:
            update_fields: tuple[str, ...] = ()
            if transition == "deliver":
                order.delivered_at = timezone.now()
                update_fields = ("delivered_at",)
            order_apply_transition(
                order=order, transition=transition, actor=actor, remark=remark, update_fields=update_fields
            )
        if order.status in (OrderStatus.DELIVERED, OrderStatus.DELIVERY_FAILED):
            _refund_if_refunded_in_full(order, actor=actor)
    return order


COMPLETE_RUN_SECONDS = 600


def orders_complete_delivered(*, actor: str, batch_size: int | None = None) -> list[str]:
    """Complete orders delivered more than ``ORDER_AUTO_COMPLETE_DAYS`` ago (beat job).

    Works through every due order in batches of ``ORDER_AUTO_COMPLETE_BATCH_SIZE``, oldest
    delivery first, paging by (delivered_at, id) so an order that cannot complete is not
    read again; a run stops starting batches after ``COMPLETE_RUN_SECONDS`` and the next
    run goes on. Each order is re-checked under its lock, so two runs at once complete it
    once. An order refunded in full is not completed but moved on to ``refunded``.
    """
    batch_size = batch_size or settings.ORDER_AUTO_COMPLETE_BATCH_SIZE
    cutoff = timezone.now() - timedelta(days=settings.ORDER_AUTO_COMPLETE_DAYS)
    stop_at = time.monotonic() + COMPLETE_RUN_SECONDS
    due = Order.objects.filter(status=OrderStatus.DELIVERED, delivered_at__lte=cutoff).order_by("delivered_at", "id")
    completed: list[str] = []
    after = None
    while time.monotonic() < stop_at:
        page = due
        if after is not None:
            page = page.filter(Q(delivered_at__gt=after[0]) | Q(delivered_at=after[0], id__gt=after[1]))
        batch = list(page.values_list("delivered_at", "id", "order_no")[:batch_size])
        if not batch:
            break
        for _delivered_at, _pk, order_no in batch:
            if _complete_if_due(order_no=order_no, cutoff=cutoff, actor=actor):
                completed.append(order_no)
        after = batch[-1][:2]
    return completed


def _complete_if_due(*, order_no: str, cutoff: datetime, actor: str) -> bool:
    with transaction.atomic():
        order = order_lock(order_no=order_no)
        if order.status != OrderStatus.DELIVERED or order.delivered_at is None or order.delivered_at > cutoff:
            return False
        if _refund_if_refunded_in_full(order, actor=actor):
            return False
        order.completed_at = timezone.now()
        order_apply_transition(
            order=order,
            transition="complete",
            actor=actor,
            remark=_("Completed automatically %(days)d days after delivery.")
            % {"days": settings.ORDER_AUTO_COMPLETE_DAYS},
            update_fields=("completed_at",),
        )
        return True
