from celery.schedules import crontab

BEAT_SCHEDULE = {
    "aftersales.workorders_escalate_overdue": {
        "task": "aftersales.workorders_escalate_overdue",
        "schedule": crontab(minute="*/5"),
    },
}
