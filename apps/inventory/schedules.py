from django.conf import settings

BEAT_SCHEDULE = {
    "inventory.hot_sku_gate_sync": {
        "task": "inventory.hot_sku_gate_sync",
        "schedule": float(settings.INVENTORY_GATE_SYNC_SECONDS),
    },
    "inventory.low_stock_scan": {
        "task": "inventory.low_stock_scan",
        "schedule": float(settings.INVENTORY_LOW_STOCK_SCAN_SECONDS),
    },
}
