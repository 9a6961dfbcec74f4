"""The Celery application: workers for the outbox relay, payment timeouts, platform pulls
and search indexing; beat for every schedule.

Tasks are routed by workload (``TASK_ROUTES``) to one queue per worker group, so a slow
platform pull or report never delays an order event or a payment: ``events`` (the outbox
relay with every consumer it calls, search indexing included, and the order, inventory and
after-sales jobs), ``payments``, ``channels`` (platform pulls, conversion, stock sync,
write-back), ``reports`` (reports and reconciliation) and ``default`` (housekeeping). A
worker started without ``-Q`` consumes every queue; production runs one worker group per
queue with ``-Q`` (docker/compose.yaml).

On RabbitMQ (an ``amqp://`` broker URL) the queues are durable quorum queues on a topic
exchange, so ETA and countdown tasks (payment deadlines, merge holds) wait in the broker's
native delayed-delivery queues instead of a worker's memory; publishes wait for the
broker's confirm. Tasks are acknowledged after they ran (``acks_late``, every task is safe
to run twice), so a connection lost mid-task redelivers it.

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
from kombu import Exchange, Queue

from apps.core.health import probe_register

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


TASK_QUEUES = ("events", "payments", "channels", "reports", "default")

# Exact names first, then patterns in order (Celery's glob routes).
TASK_ROUTES = {
    "core.outbox_relay": "events",
    "orders.reports_build": "reports",
    "payments.reconcile": "reports",
    "payments.reconcile_yesterday": "reports",
    "orders.*": "events",
    "inventory.*": "events",
    "aftersales.*": "events",
    "payments.*": "payments",
    "channels.*": "channels",
}


def uses_rabbitmq() -> bool:
    return settings.CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://"))


def _task_queues() -> list[Queue]:
    if not uses_rabbitmq():
        return [Queue(name, Exchange(name, type="direct"), routing_key=name) for name in TASK_QUEUES]
    # Native delayed delivery needs a topic exchange; quorum queues are replicated and durable.
    exchange = Exchange("oms", type="topic", durable=True)
    arguments = {"x-queue-type": "quorum"} if settings.CELERY_QUORUM_QUEUES else None
    return [Queue(name, exchange, routing_key=name, durable=True, queue_arguments=arguments) for name in TASK_QUEUES]


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
    if uses_rabbitmq():
        return {"confirm_publish": True}
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
        "task_queues": _task_queues(),
        "task_routes": TASK_ROUTES,
        # A task still running when the connection is lost is redelivered (acks_late) and
        # would run twice at once; cancelling it leaves the redelivered copy alone.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "timezone": settings.TIME_ZONE,
        "enable_utc": True,
        "beat_scheduler": "apps.core.beat:DatabaseScheduler",
        "beat_schedule": collect_beat_schedule(),
    }


app.add_defaults(_configuration)
app.autodiscover_tasks(lambda: [f"apps.{name}" for name in APP_PACKAGES])


def _check_broker() -> None:
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


# The broker is Celery's: the project's Celery module registers its readiness probe.
probe_register("broker", _check_broker)


def task_queue_names(celery_app: Celery) -> set[str]:
    """The declared queues plus any queue a registered task names itself with ``queue=``."""
    names = {celery_app.conf.task_default_queue, *(queue.name for queue in celery_app.conf.task_queues)}
    names.update(task.queue for task in celery_app.tasks.values() if getattr(task, "queue", None))
    return names


@signals.celeryd_init.connect
def _consume_every_task_queue(sender=None, instance=None, **kwargs) -> None:
    instance.app.loader.import_default_modules()
    queues = instance.app.amqp.queues
    for name in sorted(task_queue_names(instance.app)):
        # A declared queue keeps its exchange and arguments (quorum); a name alone would
        # replace it with a classic queue on the default exchange.
        queues.select_add(queues.get(name, name))
