from celery import shared_task

from apps.inventory.gate import gate_sync
from apps.inventory.services import stock_low_alerts_scan


@shared_task(name="inventory.hot_sku_gate_sync", queue="default", acks_late=True, ignore_result=True)
def hot_sku_gate_sync_task() -> int:
    return gate_sync()


@shared_task(name="inventory.low_stock_scan", queue="default", acks_late=True, ignore_result=True)
def low_stock_scan_task() -> tuple[int, int]:
    return stock_low_alerts_scan(actor="system:beat")
