from celery import shared_task

from apps.core.idempotency import idempotency_keys_purge
from apps.core.outbox import outbox_relay, outbox_relay_kick
from apps.core.retention import outbox_purge


@shared_task(name="core.outbox_relay", acks_late=True, ignore_result=True)
def outbox_relay_task() -> int:
    delivered = outbox_relay()
    if delivered:
        # A pass delivers at most OUTBOX_RELAY_BATCH per consumer: go on while there is work.
        outbox_relay_kick()
    return delivered


@shared_task(name="core.idempotency_keys_purge", acks_late=True, ignore_result=True)
def idempotency_keys_purge_task() -> int:
    return idempotency_keys_purge()


@shared_task(name="core.outbox_purge", queue="default", acks_late=True, ignore_result=True)
def outbox_purge_task() -> dict[str, int]:
    """Daily: delivered outbox events past OUTBOX_RETENTION_DAYS, failed ones later."""
    return outbox_purge()
