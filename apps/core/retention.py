"""Retention: old rows that only record what already happened are deleted in batches.

Each owning app runs its own beat job (``schedules.py``); the helper here deletes a query's
rows by primary key, ``RETENTION_BATCH_SIZE`` at a time, each batch in its own short
transaction, so a purge never holds locks long, never builds a huge undo log (or passes
TiDB's transaction size limit) and can stop anywhere: the next run carries on.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.core.models import OutboxDelivery, OutboxEvent


def cutoff(days: int, *, now: datetime | None = None) -> datetime | None:
    """The time before which rows go, or None when ``days`` is 0 (keep forever)."""
    if days <= 0:
        return None
    return (now or timezone.now()) - timedelta(days=days)


def delete_in_batches(queryset: QuerySet, *, batch_size: int | None = None, children: tuple = ()) -> int:
    """Delete the rows of ``queryset`` oldest id first; ``children`` are ``(model, fk_field)``
    pairs whose rows pointing at a batch are deleted first, in the same transaction.

    The ids are read in primary-key order: old rows sit at the start of the index, so each
    batch reads about as many rows as it deletes. Returns the number of rows of ``queryset``
    deleted."""
    batch_size = batch_size or settings.RETENTION_BATCH_SIZE
    model = queryset.model
    total = 0
    while True:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return total
        with transaction.atomic():
            for child, field in children:
                child.objects.filter(**{f"{field}__in": ids}).delete()
            deleted, _per_model = model.objects.filter(pk__in=ids).delete()
            total += deleted
        if len(ids) < batch_size:
            return total


def outbox_purge(*, now: datetime | None = None) -> dict[str, int]:
    """Outbox events every consumer got, older than ``OUTBOX_RETENTION_DAYS``, with their
    deliveries; events with a failed delivery after ``OUTBOX_FAILED_RETENTION_DAYS`` (they
    stay visible in the admin until then). Pending deliveries are never touched."""
    deleted = {"delivered": 0, "failed": 0}
    open_statuses = [OutboxDelivery.Status.PENDING, OutboxDelivery.Status.FAILED]
    delivered_before = cutoff(settings.OUTBOX_RETENTION_DAYS, now=now)
    if delivered_before is not None:
        done = OutboxEvent.objects.filter(created_at__lt=delivered_before).exclude(deliveries__status__in=open_statuses)
        deleted["delivered"] = delete_in_batches(done, children=((OutboxDelivery, "event_id"),))
    failed_before = cutoff(settings.OUTBOX_FAILED_RETENTION_DAYS, now=now)
    if failed_before is not None:
        failed = OutboxEvent.objects.filter(created_at__lt=failed_before).exclude(
            deliveries__status=OutboxDelivery.Status.PENDING
        )
        deleted["failed"] = delete_in_batches(failed, children=((OutboxDelivery, "event_id"),))
    return deleted
