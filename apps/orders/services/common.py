"""The one way an order changes: lock, transition, log, publish — in the caller's transaction."""

from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext as _
from django_fsm import can_proceed

from apps.core.exceptions import Conflict, NotFound
from apps.core.outbox import outbox_publish
from apps.orders.error_codes import OrderErrorCode
from apps.orders.models import Order, OrderStatusLog

ORDER_CACHE_KEY = "order:v1:{order_no}"


def order_cache_key(order_no: str) -> str:
    return ORDER_CACHE_KEY.format(order_no=order_no)


def order_lock(*, order_no: str) -> Order:
    """The order row, locked until the surrounding transaction ends."""
    order = Order.objects.select_for_update().filter(order_no=order_no).first()
    if order is None:
        raise NotFound(OrderErrorCode.ORDER_NOT_FOUND, _("Order %(order_no)s does not exist.") % {"order_no": order_no})
    return order


def order_shop_warehouse_ids(order: Order) -> list[int]:
    """The warehouses the order's shop ships from (empty: any warehouse)."""
    if order.shop_id is None:
        return []
    return list(order.shop.warehouses.values_list("pk", flat=True))


def order_event_payload(order: Order) -> dict:
    return {"order_no": order.order_no, "status": order.status, "version": order.version, "shop_id": order.shop_id}


def _after_change(order: Order, *, topic: str, extra_payload: dict | None) -> None:
    outbox_publish(
        topic=topic,
        aggregate_type="order",
        aggregate_id=order.order_no,
        payload={**order_event_payload(order), **(extra_payload or {})},
    )
    order_cache_invalidate_on_commit([order.order_no])


def order_cache_invalidate_on_commit(order_nos: list[str]) -> None:
    """Drop the cached details of ``order_nos`` once the surrounding transaction commits."""
    keys = [order_cache_key(order_no) for order_no in order_nos]
    if keys:
        transaction.on_commit(lambda: cache.delete_many(keys))


def order_apply_transition(
    *,
    order: Order,
    transition: str,
    actor: str,
    remark: str = "",
    update_fields: tuple[str, ...] = (),
    extra_payload: dict | None = None,
) -> Order:
    """Run ``transition`` on a locked ``order``, save it, log it and publish ``order.<new status>``.

    Must run inside ``transaction.atomic`` on an order obtained with ``order_lock``. A
    transition not allowed from the current status raises ``Conflict`` (409): under the row
    lock, that is how the loser of a race (a second cancel, a payment after a timeout) hears it.
    """
    method = getattr(order, transition)
    if not can_proceed(method):
        raise Conflict(
            OrderErrorCode.INVALID_STATUS,
            _("Order %(order_no)s cannot %(action)s while %(status)s.")
            % {
                "order_no": order.order_no,
                "action": transition.replace("_", " "),
                "status": order.get_status_display(),
            },
            {"status": order.status},
        )
    from_status = order.status
    method()
    order.version += 1
    order.save(update_fields=["status", "version", "updated_at", *update_fields])
    OrderStatusLog.objects.create(
        order=order, from_status=from_status, to_status=order.status, operator=actor, remark=remark[:500]
    )
    _after_change(order, topic=f"order.{order.status}", extra_payload=extra_payload)
    return order


def order_record_change(
    *, order: Order, actor: str, remark: str, update_fields: tuple[str, ...], extra_payload: dict | None = None
) -> Order:
    """Save a change that keeps the status (an address edit, a remark): logged and published."""
    order.version += 1
    order.save(update_fields=["version", "updated_at", *update_fields])
    OrderStatusLog.objects.create(
        order=order, from_status=order.status, to_status=order.status, operator=actor, remark=remark[:500]
    )
    _after_change(order, topic="order.updated", extra_payload=extra_payload)
    return order
