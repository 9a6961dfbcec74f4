"""RabbitMQ as the broker, on a vhost of the machine's RabbitMQ made for this module: each
workload's task lands on its own durable quorum queue and a real worker runs it; broker
connections dropped mid-run (closed by the broker, as a restart does) lose no task."""

import subprocess
import threading
import time
import uuid
from datetime import timedelta

import pytest
from celery import Celery
from django.test import override_settings
from django.utils import timezone
from kombu import Connection

from apps.core.models import IdempotencyKey
from apps.orders.models import Order, OrderReport, OrderStatusLog
from oms import celery as oms_celery
from tests.orders.factories import SkuFactory, WarehouseFactory, create_order, receive
from tests.scale.servers import celery, require, stop, wait_until

pytestmark = [pytest.mark.scale, pytest.mark.django_db(transaction=True)]

QUEUES = ("events", "payments", "channels", "reports", "default")


def rabbitmqctl(*args: str) -> str:
    result = subprocess.run(  # noqa: S603 - the machine's rabbitmqctl
        [require("rabbitmqctl"), "-q", *args], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout


@pytest.fixture(scope="module")
def broker_url():
    vhost = f"oms-test-{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        rabbitmqctl("delete_vhost", vhost)


@pytest.fixture
def producer(broker_url, monkeypatch):
    """The OMS's Celery configuration pointed at the vhost, as the web process builds it."""
    # Celery prefers this variable to its own setting; the test process's own app (which
    # order creation publishes countdowns with) keeps the in-memory broker.
    assert oms_celery.app.conf["broker_url"] == "memory://"  # read (and so fixed) before the override
    monkeypatch.delenv("CELERY_BROKER_URL")
    with override_settings(CELERY_BROKER_URL=broker_url):
        app = Celery("oms-producer", set_as_current=False)
        app.conf.update(oms_celery._configuration())
        yield app
        app.close()


def queue_state(broker_url: str) -> dict[str, tuple[int, int]]:
    """(ready messages, consumers) of each task queue, read with passive declares."""
    state = {}
    with Connection(broker_url) as conn, conn.channel() as channel:
        for name in QUEUES:
            ok = channel.queue_declare(queue=name, passive=True)
            state[name] = (ok.message_count, ok.consumer_count)
    return state


def queue_types(broker_url: str) -> dict[str, tuple[str, str]]:
    vhost = broker_url.rsplit("/", 1)[1]
    rows = rabbitmqctl("list_queues", "-p", vhost, "--no-table-headers", "name", "type", "durable")
    return {name: (kind, durable) for name, kind, durable in (row.split("\t") for row in rows.splitlines())}


def overdue_orders(count: int) -> list[Order]:
    warehouse = WarehouseFactory()
    sku = SkuFactory()
    receive(sku, warehouse, count)
    orders = [create_order((sku, 1)) for _ in range(count)]
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(payment_deadline=timezone.now() - timedelta(seconds=1))
    return orders


def statuses(orders: list[Order]) -> set[str]:
    return set(Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("status", flat=True))


def start_worker(broker_url: str, log) -> subprocess.Popen:
    """One worker on every queue group, as `celery -A oms worker -Q ...` runs in production."""
    name = f"scale-{uuid.uuid4().hex[:6]}@%h"
    return celery("worker", "-c", "2", "-Q", ",".join(QUEUES), "-n", name, "--without-gossip", "--without-mingle",
                  log=log, CELERY_BROKER_URL=broker_url)  # fmt: skip


@pytest.fixture
def worker(broker_url, producer, tmp_path):
    process = start_worker(broker_url, tmp_path / "worker.log")
    yield process
    stop(process)


def test_each_workload_lands_on_its_quorum_queue_and_a_worker_runs_it(broker_url, producer, tmp_path):
    [order] = overdue_orders(1)
    IdempotencyKey.objects.create(
        scope="test", key="old", fingerprint="f", expires_at=timezone.now() - timedelta(days=1)
    )
    producer.send_task("orders.order_expire", kwargs={"order_no": order.order_no})
    producer.send_task("payments.close_expired")
    producer.send_task("channels.pull_due_shops")
    producer.send_task("orders.reports_build")
    producer.send_task("core.idempotency_keys_purge")

    assert queue_state(broker_url) == dict.fromkeys(QUEUES, (1, 0))  # one task each, nobody consuming
    assert {name: queue_types(broker_url)[name] for name in QUEUES} == dict.fromkeys(QUEUES, ("quorum", "true"))

    process = start_worker(broker_url, tmp_path / "worker.log")
    try:
        wait_until(lambda: queue_state(broker_url) == dict.fromkeys(QUEUES, (0, 1)), timeout=60,
                   what="the worker to take every queue's task")  # fmt: skip
        wait_until(lambda: statuses([order]) == {"payment_timeout"}, timeout=30, what="the order to expire")
        wait_until(lambda: OrderReport.objects.exists(), timeout=30, what="the reports to be built")
        wait_until(lambda: not IdempotencyKey.objects.exists(), timeout=30, what="the expired key to be purged")
    finally:
        stop(process)
    assert process.returncode == 0, (tmp_path / "worker.log").read_text()[-3000:]


def test_connections_dropped_mid_run_lose_no_task(broker_url, producer, worker, tmp_path):
    orders = overdue_orders(60)
    wait_until(lambda: queue_state(broker_url)["events"][1] == 1, timeout=60, what="the worker to consume")
    vhost = broker_url.rsplit("/", 1)[1]
    errors: list[BaseException] = []

    def publish() -> None:
        try:
            for order in orders:  # spread over a few seconds, so the drops fall amid publishing
                producer.send_task("orders.order_expire", kwargs={"order_no": order.order_no})
                time.sleep(0.05)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    publisher = threading.Thread(target=publish)
    publisher.start()
    for _ in range(3):  # the broker closes every connection, the worker's and the producer's
        wait_until(lambda: queue_state(broker_url)["events"][1] == 1, timeout=60, what="the worker to reconnect")
        rabbitmqctl("close_all_connections", "-p", vhost, "scale test: broker going away")
    publisher.join(60)
    assert errors == []

    wait_until(lambda: statuses(orders) == {"payment_timeout"}, timeout=120, what="every order to expire")
    timeouts = OrderStatusLog.objects.filter(order__in=orders, to_status="payment_timeout")
    assert timeouts.count() == len(orders)  # a redelivered task ran again and changed nothing
    assert worker.poll() is None  # the worker reconnected and is still serving
