"""Order reads: lookups scoped to the caller's shop, the cached detail, list filters and
the masking of personal data for callers who may not see it."""

from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from apps.core.exceptions import NotFound
from apps.orders.error_codes import OrderErrorCode
from apps.orders.models import Fulfillment, Order, OrderStatusLog
from apps.orders.services.common import order_cache_generation_key, order_cache_key


def order_not_found(order_no: str) -> NotFound:
    return NotFound(OrderErrorCode.ORDER_NOT_FOUND, _("Order %(order_no)s does not exist.") % {"order_no": order_no})


def order_get(*, order_no: str, shop=None) -> Order:
    """The order, or 404 ``order_not_found`` (also for another shop's order)."""
    queryset = Order.objects.select_related("shop")
    if shop is not None:
        queryset = queryset.filter(shop=shop)
    order = queryset.filter(order_no=order_no).first()
    if order is None:
        raise order_not_found(order_no)
    return order


def order_fulfillments(order: Order) -> list[Fulfillment]:
    return list(
        Fulfillment.objects.filter(lines__order_line__order=order).select_related("warehouse").distinct().order_by("id")
    )


def order_for_detail(*, order_no: str) -> Order:
    """The order with its lines and packages (``fulfillment_list``): three queries."""
    order = Order.objects.select_related("shop").prefetch_related("lines").filter(order_no=order_no).first()
    if order is None:
        raise order_not_found(order_no)
    order.fulfillment_list = order_fulfillments(order)
    return order


def order_detail_cached(*, order_no: str, render: Callable[[Order], dict]) -> dict:
    """Cache-aside detail: ``{"shop_id", "data"}`` with ``data = render(order)``.

    Entries live ``ORDER_DETAIL_CACHE_SECONDS`` and are invalidated when a change to the
    order commits (``services.common``). An unknown number is remembered for
    ``ORDER_MISSING_CACHE_SECONDS`` so repeated misses do not reach the database.

    Each entry is stamped with the order's cache generation read before the database, and a read
    accepts only an entry stamped with the current generation (one round trip for both keys). A
    change that commits between our database read and our write gives the order a new
    generation, so the entry we then write, already stale, is never served.
    """
    key, generation_key = order_cache_key(order_no), order_cache_generation_key(order_no)
    found = cache.get_many([key, generation_key])
    generation = found.get(generation_key, "")
    entry = found.get(key)
    if isinstance(entry, dict) and entry.get("generation") == generation:
        if entry.get("missing"):
            raise order_not_found(order_no)
        return {"shop_id": entry["shop_id"], "data": entry["data"]}
    try:
        order = order_for_detail(order_no=order_no)
    except NotFound:
        cache.set(key, {"generation": generation, "missing": True}, settings.ORDER_MISSING_CACHE_SECONDS)
        raise
    fresh = {"shop_id": order.shop_id, "data": render(order)}
    cache.set(key, {"generation": generation, **fresh}, settings.ORDER_DETAIL_CACHE_SECONDS)
    return fresh


def order_history(*, order: Order) -> QuerySet[OrderStatusLog]:
    return OrderStatusLog.objects.filter(order=order).order_by("id")


def order_list(
    *,
    shop=None,
    buyer_id: str = "",
    statuses: tuple[str, ...] = (),
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Order]:
    """Orders matching every filter given (``statuses``: any of them; ``created_before`` exclusive)."""
    queryset = Order.objects.select_related("shop")
    if shop is not None:
        queryset = queryset.filter(shop=shop)
    if buyer_id:
        queryset = queryset.filter(buyer_id=buyer_id)
    if statuses:
        queryset = queryset.filter(status__in=statuses)
    if created_after is not None:
        queryset = queryset.filter(created_at__gte=created_after)
    if created_before is not None:
        queryset = queryset.filter(created_at__lt=created_before)
    return queryset
