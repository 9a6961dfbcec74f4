"""The one way an order changes: lock, transition, log, publish — in the caller's transaction."""

from uuid import uuid4

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext as _
from django_fsm import can_proceed

from apps.core.exceptions import ApplicationError, Conflict, NotFound
from apps.core.outbox import outbox_publish
from apps.inventory.selectors import shops_warehouse_ids
from apps.orders.error_codes import OrderErrorCode
from apps.orders.models import Order, OrderStatusLog

ORDER_CACHE_KEY = "order:v1:{order_no}"
ORDER_CACHE_GENERATION_KEY = "order:v1:{order_no}:gen"


def order_cache_key(order_no: str) -> str:
    return ORDER_CACHE_KEY.format(order_no=order_no)


def order_cache_generation_key(order_no: str) -> str:
    """The key of the current generation of the order's cached detail (a random token)."""
    return ORDER_CACHE_GENERATION_KEY.format(order_no=order_no)


def order_cache_generation_seconds() -> int:
    """How long a generation outlives its last change: longer than any entry written before it."""
    return 2 * max(settings.ORDER_DETAIL_CACHE_SECONDS, settings.ORDER_MISSING_CACHE_SECONDS) + 60


def order_cache_invalidate(order_nos: list[str]) -> None:
    """Give each order a new cache generation, then drop its entry.

    A reader that loaded the order before the change may still write its entry afterwards,
    but stamped with the old generation, which no read accepts any more (``order_detail_cached``).
    """
    cache.set_many(
        {order_cache_generation_key(order_no): uuid4().hex for order_no in order_nos}, order_cache_generation_seconds()
    )
    cache.delete_many([order_cache_key(order_no) for order_no in order_nos])


def order_lock(*, order_no: str, expected_version: int | None = None) -> Order:
    """The order row, locked until the surrounding transaction ends.

    With ``expected_version`` (an edit made on what the caller last read) an order that has
    changed since is refused with 412 ``version_conflict``, so the last writer cannot undo
    an edit it never saw."""
    order = Order.objects.select_for_update().filter(order_no=order_no).first()
    if order is None:
        raise NotFound(OrderErrorCode.ORDER_NOT_FOUND, _("Order %(order_no)s does not exist.") % {"order_no": order_no})
    if expected_version is not None and order.version != expected_version:
        raise ApplicationError(
            OrderErrorCode.VERSION_CONFLICT,
            _("Order %(order_no)s has changed since version %(expected)s; read it again and retry.")
            % {"order_no": order_no, "expected": expected_version},
            {"version": order.version},
            status_code=412,
        )
    return order


def order_shop_warehouse_ids(order: Order) -> list[int]:
    """The warehouses the order's shop ships from (empty: any warehouse)."""
    if order.shop_id is None:
        return []
    return shops_warehouse_ids({order.shop_id}).get(order.shop_id, [])


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
    """Invalidate the cached details of ``order_nos`` once the surrounding transaction commits."""
    order_nos = list(order_nos)
    if order_nos:
        transaction.on_commit(lambda: order_cache_invalidate(order_nos))


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
