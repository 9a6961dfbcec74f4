"""Retention of what the channels record: raw platform orders already converted or ignored,
pull runs and stock pushes (batched deletes, ``apps.core.retention``)."""

from datetime import datetime

from django.conf import settings

from apps.channels.models import PullRun, RawOrder, StockPush
from apps.core.retention import cutoff, delete_in_batches


def channel_records_purge(*, now: datetime | None = None) -> dict[str, int]:
    """Raw orders converted or ignored and unchanged for ``RAW_ORDER_RETENTION_DAYS`` (the
    formal order keeps everything the OMS needs; pending and failed ones stay), finished pull
    runs older than ``PULL_RUN_RETENTION_DAYS`` and stock pushes older than
    ``STOCK_PUSH_RETENTION_DAYS``. A setting of 0 keeps those rows for ever."""
    deleted = {"raw_orders": 0, "pull_runs": 0, "stock_pushes": 0}
    if (before := cutoff(settings.RAW_ORDER_RETENTION_DAYS, now=now)) is not None:
        done = RawOrder.objects.filter(
            status__in=[RawOrder.Status.CONVERTED, RawOrder.Status.IGNORED], updated_at__lt=before
        )
        deleted["raw_orders"] = delete_in_batches(done)
    if (before := cutoff(settings.PULL_RUN_RETENTION_DAYS, now=now)) is not None:
        finished = PullRun.objects.filter(started_at__lt=before).exclude(status=PullRun.Status.RUNNING)
        deleted["pull_runs"] = delete_in_batches(finished)
    if (before := cutoff(settings.STOCK_PUSH_RETENTION_DAYS, now=now)) is not None:
        deleted["stock_pushes"] = delete_in_batches(StockPush.objects.filter(created_at__lt=before))
    return deleted
