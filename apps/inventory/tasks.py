from datetime import timedelta

from celery import shared_task
from django.conf import settings

from apps.inventory.gate import gate_sync
from apps.inventory.services import reservation_claims_purge, stock_low_alerts_scan


@shared_task(name="inventory.hot_sku_gate_sync", acks_late=True, ignore_result=True)
def hot_sku_gate_sync_task() -> int:
    return gate_sync()


@shared_task(name="inventory.low_stock_scan", acks_late=True, ignore_result=True)
def low_stock_scan_task() -> tuple[int, int]:
    return stock_low_alerts_scan(actor="system:beat")


@shared_task(name="inventory.claims_purge", acks_late=True, ignore_result=True)
def reservation_claims_purge_task() -> int:
    """Daily: drop reservation claims older than INVENTORY_CLAIM_RETENTION_DAYS."""
    return reservation_claims_purge(older_than=timedelta(days=settings.INVENTORY_CLAIM_RETENTION_DAYS))
