"""The Celery application: workers for the outbox relay, payment timeouts, platform pulls
and search indexing; beat for every schedule.

A worker started without ``-Q`` consumes every queue a registered task names (tasks pick
their queue with ``queue=``), so adding a queue never leaves its tasks unconsumed; production
may still split queues across workers with ``-Q``.

The beat schedule is defined in code: each app lists its jobs in ``apps/<app>/schedules.py``
(``BEAT_SCHEDULE``). Beat runs django-celery-beat's DatabaseScheduler (``apps.core.beat``),
which copies those entries into the database on start, so staff see every job (and its last
run) in the admin and may pause one or change its interval there; such changes survive a
restart, and the code stays the source of the defaults for jobs nobody changed.
"""

import importlib
import os

from celery import Celery, signals
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.settings")

app = Celery("oms")

APP_PACKAGES = ("core", "inventory", "orders", "payments", "channels", "aftersales")


def collect_beat_schedule() -> dict:
    schedule: dict = {}
    for name in APP_PACKAGES:
        try:
            module = importlib.import_module(f"apps.{name}.schedules")
        except ModuleNotFoundError as exc:
            if exc.name != f"apps.{name}.schedules":
                raise
            continue
        schedule.update(module.BEAT_SCHEDULE)
    return schedule


def _broker_transport_options() -> dict:
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        folder = settings.CELERY_BROKER_FOLDER
        for sub in ("in", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(folder / "in"),
            "data_folder_out": str(folder / "in"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        }
    return {"visibility_timeout": settings.CELERY_VISIBILITY_TIMEOUT}


def _configuration() -> dict:
    """Read when Celery first needs its configuration, after Django settings have loaded."""
    return {
        "broker_url": settings.CELERY_BROKER_URL,
        "broker_transport_options": _broker_transport_options(),
        "broker_connection_retry_on_startup": True,
        # A broker outage of any length: the worker keeps reconnecting instead of exiting
        # after its 100th attempt.
        "broker_connection_max_retries": None,
        "task_always_eager": settings.CELERY_TASK_ALWAYS_EAGER,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": 300,
        "task_soft_time_limit": 240,
        "task_default_queue": "default",
        "timezone": settings.TIME_ZONE,
        "enable_utc": True,
        "beat_scheduler": "apps.core.beat:DatabaseScheduler",
        "beat_schedule": collect_beat_schedule(),
    }


app.add_defaults(_configuration)
app.autodiscover_tasks(lambda: [f"apps.{name}" for name in APP_PACKAGES])


def task_queue_names(celery_app: Celery) -> set[str]:
    """The default queue plus every queue a registered task is routed to."""
    names = {celery_app.conf.task_default_queue}
    names.update(task.queue for task in celery_app.tasks.values() if getattr(task, "queue", None))
    return names


@signals.celeryd_init.connect
def _consume_every_task_queue(sender=None, instance=None, **kwargs) -> None:
    instance.app.loader.import_default_modules()
    for name in sorted(task_queue_names(instance.app)):
        instance.app.amqp.queues.select_add(name)
