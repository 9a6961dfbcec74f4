from celery.schedules import crontab
from django.conf import settings

BEAT_SCHEDULE = {
    "inventory.hot_sku_gate_sync": {
        "task": "inventory.hot_sku_gate_sync",
        "schedule": float(settings.INVENTORY_GATE_SYNC_SECONDS),
    },
    "inventory.claims_purge": {"task": "inventory.claims_purge", "schedule": crontab(hour=4, minute=10)},
    "inventory.low_stock_scan": {
        "task": "inventory.low_stock_scan",
        "schedule": float(settings.INVENTORY_LOW_STOCK_SCAN_SECONDS),
    },
}
