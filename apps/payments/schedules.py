from celery.schedules import crontab

BEAT_SCHEDULE = {
    "payments.query_open": {"task": "payments.query_open", "schedule": 60.0},
    "payments.close_expired": {"task": "payments.close_expired", "schedule": 60.0},
    "payments.refunds_process": {"task": "payments.refunds_process", "schedule": 60.0},
    "payments.notifications_purge": {"task": "payments.notifications_purge", "schedule": crontab(hour=3, minute=50)},
    "payments.reconcile_yesterday": {"task": "payments.reconcile_yesterday", "schedule": crontab(hour=10, minute=30)},
}
