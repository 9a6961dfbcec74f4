"""The switches that let the OMS run on TiDB, exercised on MariaDB with the switch on:
work queues without ``SKIP LOCKED`` and whole-transaction retries on TiDB's write-conflict
errors (raised here by a trigger with TiDB's error number)."""

import json
import os
import subprocess
import sys
import threading

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.core.models import OutboxDelivery
from apps.core.outbox import outbox_publish, outbox_relay
from apps.inventory.models import Stock, StockMovement
from apps.inventory.services import stock_receive
from tests.core.relays import relays_in_parallel
from tests.inventory.factories import SkuFactory, WarehouseFactory


def publish(n: int) -> list[int]:
    with transaction.atomic():
        return [
            outbox_publish(topic="tidbtest.happened", aggregate_type="tidbtest", aggregate_id=f"A{i}", payload={}).pk
            for i in range(n)
        ]


@pytest.mark.django_db
@pytest.mark.parametrize(("skip_locked", "expected"), [(True, True), (False, False)])
def test_work_queues_lock_without_skip_locked_when_switched_off(consumers, settings, skip_locked, expected):
    settings.DB_SKIP_LOCKED = skip_locked
    consumers("tidbtest.sink", topics=["tidbtest.*"])(lambda event: None)
    publish(3)

    with CaptureQueriesContext(connection) as queries:
        outbox_relay()

    locking = [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    assert locking
    assert all(("SKIP LOCKED" in sql) is expected for sql in locking)
    assert OutboxDelivery.objects.filter(status=OutboxDelivery.Status.DELIVERED).count() == 3


@pytest.mark.django_db(transaction=True)
def test_without_skip_locked_two_relays_still_deliver_each_event_exactly_once(consumers, settings):
    settings.DB_SKIP_LOCKED = False
    received = []
    lock = threading.Lock()

    @consumers("tidbtest.count", topics=["tidbtest.*"])
    def count(event):
        with lock:
            received.append(event.pk)

    event_ids = publish(40)
    assert relays_in_parallel(limit=10) == []
    assert sorted(received) == sorted(event_ids)


@pytest.fixture
def write_conflicts(transactional_db):
    """Inserting a stock movement fails with TiDB's write conflict (9007) while the session's
    ``@write_conflicts`` is above zero: the failed transaction is rolled back, as on TiDB."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TRIGGER tidb_write_conflict BEFORE INSERT ON inventory_stockmovement FOR EACH ROW "
            "BEGIN IF @write_conflicts > 0 THEN SET @write_conflicts = @write_conflicts - 1; "
            "SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 9007, MESSAGE_TEXT = 'Write conflict'; END IF; END"
        )

    def arm(count: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SET @write_conflicts = %s", [count])

    yield arm
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS tidb_write_conflict")


def test_a_write_conflict_is_retried_and_the_stock_is_received_once(write_conflicts):
    sku, warehouse = SkuFactory(), WarehouseFactory()
    write_conflicts(2)

    stock_receive(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=7, reference="PO-1", operator="test")

    stock = Stock.objects.get(sku=sku, warehouse=warehouse)
    assert stock.on_hand == 7
    assert StockMovement.objects.filter(stock=stock).count() == 1


def test_without_the_code_in_the_setting_the_write_conflict_reaches_the_caller(write_conflicts, settings):
    settings.DB_RETRY_ERROR_CODES = [1213, 1205]
    sku, warehouse = SkuFactory(), WarehouseFactory()
    write_conflicts(1)

    with pytest.raises(OperationalError) as raised:
        stock_receive(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=7, reference="PO-1", operator="test")

    assert raised.value.args[0] == 9007
    assert not StockMovement.objects.filter(stock__sku=sku).exists()
    assert not Stock.objects.filter(sku=sku, on_hand__gt=0).exists()


def test_a_tidb_url_selects_django_tidb_with_pessimistic_read_committed_transactions():
    env = {**os.environ, "DATABASE_URL": "tidb://oms:secret@tidb.internal:4000/oms"}
    code = (
        "import json, django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'oms.settings'; django.setup();"
        "from django.conf import settings; from django.db import connection;"
        "print(json.dumps([settings.DATABASES['default'], connection.features.has_select_for_update_skip_locked]))"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)  # noqa: S603
    database, skip_locked_feature = json.loads(result.stdout.strip().splitlines()[-1])
    assert database["ENGINE"] == "django_tidb"
    assert (database["HOST"], database["PORT"], database["NAME"]) == ("tidb.internal", 4000, "oms")
    assert database["OPTIONS"]["isolation_level"] == "read committed"
    assert "tidb_txn_mode = 'pessimistic'" in database["OPTIONS"]["init_command"]
    # django-tidb reports no SKIP LOCKED: work queues fall back to FOR UPDATE by themselves.
    assert skip_locked_feature is False
