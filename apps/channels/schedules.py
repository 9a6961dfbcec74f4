from celery.schedules import crontab

BEAT_SCHEDULE = {
    "channels.pull_due_shops": {"task": "channels.pull_due_shops", "schedule": 60.0},
    "channels.convert_compensation": {"task": "channels.convert_compensation", "schedule": crontab(minute=23)},
    "channels.stock_full_sync": {"task": "channels.stock_full_sync", "schedule": 30 * 60.0},
    "channels.writeback_due": {"task": "channels.writeback_due", "schedule": 60.0},
    "channels.records_purge": {"task": "channels.records_purge", "schedule": crontab(hour=3, minute=40)},
    "channels.access_tokens_check_expiry": {
        "task": "channels.access_tokens_check_expiry",
        "schedule": crontab(hour=9, minute=7),
    },
}
