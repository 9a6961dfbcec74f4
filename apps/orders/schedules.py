from celery.schedules import crontab

BEAT_SCHEDULE = {
    "orders.expire_overdue": {"task": "orders.expire_overdue", "schedule": 60.0},
    "orders.fulfillments_dispatch": {"task": "orders.fulfillments_dispatch", "schedule": 60.0},
    "orders.fulfillments_merge": {"task": "orders.fulfillments_merge", "schedule": 60.0},
    "orders.retry_out_of_stock": {"task": "orders.retry_out_of_stock", "schedule": 180.0},
    "orders.complete_delivered": {"task": "orders.complete_delivered", "schedule": 3600.0},
    "orders.reports_build": {"task": "orders.reports_build", "schedule": crontab(minute=7)},
    "orders.archive": {"task": "orders.archive", "schedule": crontab(hour=2, minute=30)},
}
