"""Sellable stock pushed to the platforms.

Sellable per shop and mapped SKU = floor(available x ratio) - safety stock, never below 0,
where available is what an order of the shop could reserve (``reservable_by_sku``, the rule
reservations follow): the stock of the shop's warehouses (any warehouse for a shop without
any) that are active and accept online orders. An inactive SKU sells 0.

The ``stock.changed`` consumer marks the affected mappings dirty (in its transaction) and
schedules one sync per shop a few seconds later (a cache key makes it once per debounce
window), so a burst of movements becomes one push per SKU. A periodic full sync pushes
every mapping, catching anything missed and any drift on the platform.

One sync per shop at a time (a cache lock, like the pull): two overlapping syncs could
otherwise send a quantity read earlier after a newer one, leaving the platform stale. A sync
that finds the lock taken leaves its mappings dirty and runs again a few seconds later.
"""

import logging
import math
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.channels.adapters import ADAPTERS, AdapterError, StockItem, adapter_for
from apps.channels.models import SkuMapping, StockPush
from apps.inventory.selectors import reservable_by_sku
from apps.shops.models import Shop

logger = logging.getLogger(__name__)


def sellable_quantities(*, shop: Shop, sku_ids: list[int]) -> dict[int, int]:
    """{sku_id: sellable} for ``shop``; SKUs an order could not reserve sell 0."""
    warehouse_ids = list(shop.warehouses.values_list("pk", flat=True)) or None
    available = reservable_by_sku(sku_ids=sku_ids, warehouse_ids=warehouse_ids)
    ratio = shop.stock_sync_ratio
    return {sku_id: max(math.floor(available[sku_id] * ratio) - shop.safety_stock, 0) for sku_id in sku_ids}


def stock_mark_dirty(*, sku_ids: list[int], warehouse_ids: list[int]) -> list[int]:
    """Mark the mappings a stock change affects; returns the shops to sync."""
    mappings = SkuMapping.objects.filter(
        sku_id__in=sku_ids, shop__is_active=True, shop__platform__in=list(ADAPTERS)
    ).filter(Q(shop__warehouses__isnull=True) | Q(shop__warehouses__in=warehouse_ids))
    pairs = set(mappings.values_list("pk", "shop_id"))
    if not pairs:
        return []
    SkuMapping.objects.filter(pk__in={pk for pk, _shop in pairs}).update(stock_dirty=True)
    shop_ids = sorted({shop_id for _pk, shop_id in pairs})
    transaction.on_commit(lambda: [stock_sync_schedule(shop_id=shop_id) for shop_id in shop_ids])
    return shop_ids


def stock_sync_schedule(*, shop_id: int) -> bool:
    """Schedule a sync of the shop's dirty mappings after the debounce window, unless one is
    already scheduled. Returns True when this call scheduled it."""
    debounce = settings.CHANNEL_STOCK_SYNC_DEBOUNCE_SECONDS
    if not cache.add(f"channels:stock-sync-due:{shop_id}", 1, timeout=debounce):
        return False
    from apps.channels.tasks import stock_sync_shop_task

    try:
        stock_sync_shop_task.apply_async(kwargs={"shop_id": shop_id}, countdown=debounce)
    except Exception:
        logger.warning("could not schedule the stock sync of shop %s; the full sync covers it", shop_id, exc_info=True)
    return True


SYNC_LOCK_SECONDS = 600


def stock_sync_shop(*, shop_id: int, full: bool = False, actor: str) -> list[StockPush]:
    """Push the sellable quantity of the shop's dirty mappings (all of them when ``full``).

    A dirty mapping whose quantity equals the last pushed one is not sent again. A failed
    push is recorded and the mapping stays dirty for the next run. While another sync of
    the shop runs, nothing is pushed and the sync is queued again.
    """
    lock_key, token = f"channels:stock-sync-lock:{shop_id}", uuid.uuid4().hex
    if not cache.add(lock_key, token, timeout=SYNC_LOCK_SECONDS):
        logger.info("stock sync of shop %s deferred: another sync is running", shop_id)
        _sync_later(shop_id=shop_id, full=full)
        return []
    try:
        return _sync_locked(shop_id=shop_id, full=full, actor=actor)
    finally:
        if cache.get(lock_key) == token:
            cache.delete(lock_key)


def _sync_later(*, shop_id: int, full: bool) -> None:
    if not full:
        stock_sync_schedule(shop_id=shop_id)
        return
    from apps.channels.tasks import stock_sync_shop_task

    try:
        stock_sync_shop_task.apply_async(
            kwargs={"shop_id": shop_id, "full": True}, countdown=settings.CHANNEL_STOCK_SYNC_DEBOUNCE_SECONDS
        )
    except Exception:
        logger.warning("could not queue the full stock sync of shop %s again", shop_id, exc_info=True)


def _sync_locked(*, shop_id: int, full: bool, actor: str) -> list[StockPush]:
    shop = Shop.objects.get(pk=shop_id)
    adapter = adapter_for(shop)
    if adapter is None:
        return []
    mappings = SkuMapping.objects.filter(shop=shop)
    if not full:
        mappings = mappings.filter(stock_dirty=True)
    mappings = list(mappings.order_by("pk"))
    if not mappings:
        return []
    SkuMapping.objects.filter(pk__in=[m.pk for m in mappings]).update(stock_dirty=False)
    quantities = sellable_quantities(shop=shop, sku_ids=sorted({m.sku_id for m in mappings}))
    pushes = []
    for mapping in mappings:
        quantity = quantities[mapping.sku_id]
        if not full and mapping.last_pushed_quantity == quantity:
            continue
        item = StockItem(
            platform_sku_id=mapping.platform_sku_id,
            outer_id=mapping.outer_id,
            platform_item_id=mapping.platform_item_id,
            quantity=quantity,
        )
        try:
            adapter.push_stock(item=item)
        except AdapterError as exc:
            logger.warning("stock push of mapping %s failed: %s", mapping.pk, exc)
            SkuMapping.objects.filter(pk=mapping.pk).update(stock_dirty=True)
            pushes.append(
                StockPush.objects.create(
                    shop=shop, mapping=mapping, quantity=quantity, status=StockPush.Status.FAILED, error=str(exc)
                )
            )
            continue
        SkuMapping.objects.filter(pk=mapping.pk).update(last_pushed_quantity=quantity, last_pushed_at=timezone.now())
        pushes.append(
            StockPush.objects.create(shop=shop, mapping=mapping, quantity=quantity, status=StockPush.Status.SUCCEEDED)
        )
    logger.info("%s pushed stock of %s SKUs to shop %s", actor, len(pushes), shop.code)
    return pushes


def shops_for_full_sync() -> list[int]:
    return list(
        Shop.objects.filter(is_active=True, platform__in=list(ADAPTERS), sku_mappings__isnull=False)
        .distinct()
        .values_list("pk", flat=True)
    )
