"""Incremental pulls of a shop's orders.

A pull asks for orders updated in [cursor - overlap, end]. ``end`` is fixed before the first
request, one second before the pull started: an order updated while the pull runs gets a
later update time and leaves the window (the next pull reads it) instead of moving inside
it. The window is cut into sub-windows of at most an hour; the adapter pages each one the
lossless way (numbered pages last page first, as Taobao recommends for its increment API;
a platform cursor forwards), so removals from pages not yet fetched cannot shift an order
past the pull.

Each page is saved in its own transaction. The cursor moves to a sub-window's end together
with the last page of that sub-window, never earlier: the pages of a sub-window come in no
time order, so only a complete sub-window is known to be saved. A pull failing midway
loses nothing and the next one redoes at most the sub-window it failed in (plus the
overlap); identical payloads are no-ops.

One pull per shop at a time: a cache lock (Redis ``SET NX`` with a TTL, released only by
its owner) guards the pull; a second caller gets ``None`` and does nothing.
"""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.channels.adapters import ADAPTERS, AdapterError, adapter_for
from apps.channels.models import PullRun, RawOrder
from apps.channels.services.raw_orders import raw_orders_save, raw_orders_save_unreadable, raw_orders_with_stored
from apps.core.alerts import alert_raise, alert_resolve
from apps.shops.models import Shop

logger = logging.getLogger(__name__)

SUB_WINDOW = timedelta(hours=1)


def _lock_key(shop_id: int) -> str:
    return f"channels:pull-lock:{shop_id}"


def _alert_key(shop_id: int) -> str:
    return f"channel-pull:{shop_id}"


def shops_due_for_pull(*, now=None) -> list[int]:
    """Ids of enabled platform shops whose pull interval has elapsed."""
    now = now or timezone.now()
    shops = Shop.objects.filter(is_active=True, pull_enabled=True, platform__in=list(ADAPTERS)).only(
        "pk", "last_pull_at", "pull_interval_minutes"
    )
    return [
        shop.pk
        for shop in shops
        if shop.last_pull_at is None or shop.last_pull_at + timedelta(minutes=shop.pull_interval_minutes) <= now
    ]


def _sub_windows(start, end):
    """[start, end] cut into consecutive windows of at most SUB_WINDOW (shared end points:
    a boundary second is read twice, which is harmless)."""
    while start <= end:
        sub_end = min(start + SUB_WINDOW, end)
        yield start, sub_end
        if sub_end >= end:
            return
        start = sub_end


def shop_pull(*, shop_id: int, actor: str) -> PullRun | None:
    """Pull one shop's updated orders into raw orders. Returns the run, or None when another
    pull of the shop holds the lock or the shop no longer pulls. Raises the AdapterError of a failed pull after
    recording it (the task retries transient ones)."""
    token = uuid.uuid4().hex
    if not cache.add(_lock_key(shop_id), token, timeout=settings.CHANNEL_PULL_LOCK_SECONDS):
        logger.info("pull of shop %s skipped: another pull is running", shop_id)
        return None
    try:
        return _pull_locked(shop_id=shop_id, actor=actor)
    finally:
        if cache.get(_lock_key(shop_id)) == token:
            cache.delete(_lock_key(shop_id))


def _pull_locked(*, shop_id: int, actor: str) -> PullRun | None:
    shop = Shop.objects.get(pk=shop_id)
    adapter = adapter_for(shop)
    if adapter is None or not (shop.is_active and shop.pull_enabled):
        # Switched off since the pull was queued (a retry, "pull now"), or our own API.
        logger.info("pull of shop %s skipped: pulling is off for it", shop.code)
        return None
    now = timezone.now()
    # Platforms keep whole seconds: everything updated from now on is later than ``end``.
    end = now.replace(microsecond=0) - timedelta(seconds=1)
    cursor = shop.pull_cursor or end - timedelta(hours=settings.CHANNEL_PULL_FIRST_WINDOW_HOURS)
    start = cursor - timedelta(minutes=settings.CHANNEL_PULL_OVERLAP_MINUTES)
    run = PullRun.objects.create(shop=shop, window_start=start, window_end=end)
    Shop.objects.filter(pk=shop.pk).update(last_pull_at=now)
    logger.info("%s pulls shop %s over %s .. %s", actor, shop.code, start, end)
    try:
        for sub_start, sub_end in _sub_windows(start, end):
            for page in adapter.fetch_orders(start=sub_start, end=sub_end):
                with transaction.atomic():
                    orders = raw_orders_with_stored(shop=shop, adapter=adapter, orders=page.orders)
                    raw_orders_save(shop=shop, orders=orders, source=RawOrder.Source.PULL)
                    _save_unreadable(shop=shop, adapter=adapter, page=page)
                    if page.last:  # every page of the sub-window is saved now
                        Shop.objects.filter(pk=shop.pk).filter(
                            Q(pull_cursor__isnull=True) | Q(pull_cursor__lt=sub_end)
                        ).update(pull_cursor=sub_end)
                    PullRun.objects.filter(pk=run.pk).update(
                        pages=F("pages") + 1,
                        orders_pulled=F("orders_pulled") + len(page.orders) + len(page.unreadable),
                    )
    except AdapterError as exc:
        _record_failure(shop=shop, run=run, exc=exc)
        raise
    except Exception as exc:
        # A bug or a database failure: record the run as failed (and alert) rather than
        # leaving it "running"; the cursor is already no further than the saved sub-windows.
        logger.exception("pull of shop %s failed unexpectedly", shop.code)
        _record_failure(shop=shop, run=run, exc=AdapterError(f"{type(exc).__name__}: {exc}", code="internal"))
        raise
    with transaction.atomic():
        PullRun.objects.filter(pk=run.pk).update(status=PullRun.Status.SUCCEEDED, finished_at=timezone.now())
        Shop.objects.filter(pk=shop.pk).update(pull_failures=0)
        alert_resolve(dedup_key=_alert_key(shop.pk))
    run.refresh_from_db()
    return run


def _save_unreadable(*, shop: Shop, adapter, page) -> None:
    """Keep the orders of a page that could not be parsed as failed raw orders. One
    without even an order id cannot be keyed: it is logged and raised as an alert."""
    keyed = []
    for payload, error in page.unreadable:
        platform_order_id = adapter.platform_order_id_of(payload)
        if platform_order_id:
            keyed.append((platform_order_id, payload, error))
            continue
        logger.error("shop %s sent an order without an id on page %s: %s", shop.code, page.number, error)
        alert_raise(
            kind="channel_pull_unreadable",
            dedup_key=f"channel-pull-unreadable:{shop.pk}",
            message=_("Shop %(shop)s sent an order without an order id: %(error)s")
            % {"shop": shop.code, "error": error},
            details={"shop_id": shop.pk, "payload": payload},
        )
    if keyed:
        raw_orders_save_unreadable(shop=shop, orders=keyed, source=RawOrder.Source.PULL)


def _record_failure(*, shop: Shop, run: PullRun, exc: AdapterError) -> None:
    with transaction.atomic():
        PullRun.objects.filter(pk=run.pk).update(
            status=PullRun.Status.FAILED, finished_at=timezone.now(), error=str(exc)[:4000]
        )
        Shop.objects.filter(pk=shop.pk).update(pull_failures=F("pull_failures") + 1)
        failures = Shop.objects.values_list("pull_failures", flat=True).get(pk=shop.pk)
        if failures >= settings.CHANNEL_PULL_ALERT_AFTER or not exc.transient:
            alert_raise(
                kind="channel_pull",
                dedup_key=_alert_key(shop.pk),
                message=_("Order pull of shop %(shop)s failed %(count)s times in a row: %(error)s")
                % {"shop": shop.code, "count": failures, "error": exc},
                details={"shop_id": shop.pk, "pull_run_id": run.pk, "transient": exc.transient},
            )
    logger.warning("pull of shop %s failed (%s in a row): %s", shop.code, failures, exc)
