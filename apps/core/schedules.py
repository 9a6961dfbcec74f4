from celery.schedules import crontab

BEAT_SCHEDULE = {
    "core.outbox_relay": {"task": "core.outbox_relay", "schedule": 5.0},
    "core.idempotency_keys_purge": {"task": "core.idempotency_keys_purge", "schedule": crontab(minute=17)},
    "core.outbox_purge": {"task": "core.outbox_purge", "schedule": crontab(hour=3, minute=20)},
}
