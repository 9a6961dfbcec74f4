"""Channel tasks: thin wrappers that load ids and call one service."""

from celery import shared_task

from apps.channels import services
from apps.channels.adapters import TransientAdapterError

PULL_RETRY_COUNTDOWNS = (10, 30, 60)


@shared_task(name="channels.pull_due_shops", acks_late=True)
def pull_due_shops_task() -> int:
    shop_ids = services.shops_due_for_pull()
    for shop_id in shop_ids:
        shop_pull_task.delay(shop_id=shop_id)
    return len(shop_ids)


@shared_task(bind=True, name="channels.pull_shop", acks_late=True, max_retries=3)
def shop_pull_task(self, *, shop_id: int) -> int | None:
    """Pull one shop; transient platform failures retry after 10 s, 30 s, 60 s."""
    try:
        run = services.shop_pull(shop_id=shop_id, actor="system:pull")
    except TransientAdapterError as exc:
        countdown = PULL_RETRY_COUNTDOWNS[min(self.request.retries, len(PULL_RETRY_COUNTDOWNS) - 1)]
        raise self.retry(exc=exc, countdown=countdown) from exc
    return run.orders_pulled if run else None


@shared_task(name="channels.convert_raw_orders", acks_late=True)
def raw_orders_convert_task() -> int:
    """Convert one batch; if the batch was full, queue the next one."""
    report = services.raw_orders_convert_batch(actor="system:convert")
    if report.processed and report.processed >= _batch_size():
        raw_orders_convert_task.delay()
    return report.processed


@shared_task(name="channels.convert_compensation", acks_late=True)
def raw_orders_compensation_task() -> int:
    """Hourly: failed raw orders due for another attempt go back to pending, and every
    pending one is converted (a lost nudge or a crashed worker leaves nothing behind)."""
    services.raw_orders_requeue_due(actor="system:compensation")
    total = 0
    while True:
        report = services.raw_orders_convert_batch(actor="system:compensation")
        total += report.processed
        if report.processed < _batch_size():
            return total


@shared_task(name="channels.stock_sync_shop", acks_late=True)
def stock_sync_shop_task(*, shop_id: int, full: bool = False) -> int:
    return len(services.stock_sync_shop(shop_id=shop_id, full=full, actor="system:stock-sync"))


@shared_task(name="channels.stock_full_sync", acks_late=True)
def stock_full_sync_task() -> int:
    shop_ids = services.shops_for_full_sync()
    for shop_id in shop_ids:
        stock_sync_shop_task.delay(shop_id=shop_id, full=True)
    return len(shop_ids)


@shared_task(name="channels.access_tokens_check_expiry", acks_late=True)
def access_tokens_check_expiry_task() -> int:
    """Daily: alert for shops whose platform access token expires within three days."""
    return len(services.access_tokens_check_expiry(actor="system:token-check"))


@shared_task(name="channels.writeback_ship", acks_late=True)
def writeback_ship_task(*, write_back_id: int) -> str | None:
    write_back = services.writeback_attempt(write_back_id=write_back_id, actor="system:writeback")
    return write_back.status if write_back else None


@shared_task(name="channels.writeback_due", acks_late=True)
def writebacks_due_task() -> int:
    ids = services.writebacks_due()
    for write_back_id in ids:
        writeback_ship_task.delay(write_back_id=write_back_id)
    return len(ids)


def _batch_size() -> int:
    from django.conf import settings

    return settings.CHANNEL_CONVERT_BATCH


@shared_task(name="channels.records_purge", queue="default", acks_late=True, ignore_result=True)
def channel_records_purge_task() -> dict[str, int]:
    """Daily: converted raw orders, pull runs and stock pushes past their retention."""
    return services.channel_records_purge()
