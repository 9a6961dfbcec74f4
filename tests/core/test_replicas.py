"""Read replicas against a real MariaDB primary and replica (binlog replication, GTIDs) that
this module starts: opted-in reads go to the replica, writes and the reads after them to the
primary, and a stopped, lagging or dead replica is bypassed with ``/readyz`` degraded."""

import time

import pytest
from django.contrib.auth.models import Group
from django.db import connections, transaction
from django.test import override_settings

from apps.core.replicas import replica_reads, replica_state, unpin
from tests.core.mariadb_pair import DATABASE, MariaDBPair, dump_schema
from tests.orders.factories import ShopFactory, SkuFactory, WarehouseFactory, create_order, receive
from tests.payments.factories import PaymentFactory

# One pair for the whole module: every test here runs on the same xdist worker.
pytestmark = [pytest.mark.xdist_group("mariadb_pair"), pytest.mark.django_db(transaction=True, databases="__all__")]

REPLICA = "replica_1"


@pytest.fixture(scope="module")
def pair(django_db_setup, django_db_blocker):
    """The primary becomes the ``default`` database and the replica ``replica_1`` for this module."""
    default = connections["default"]
    saved = {key: default.settings_dict[key] for key in ("HOST", "PORT", "NAME", "USER", "PASSWORD")}
    with django_db_blocker.unblock():
        schema = dump_schema(
            host=saved["HOST"],
            port=saved["PORT"],
            user=saved["USER"],
            password=saved["PASSWORD"],
            database=saved["NAME"],
        )
    servers = MariaDBPair()
    try:
        servers.start(schema)
        default.close()
        default.settings_dict.update(
            HOST="127.0.0.1", PORT=servers.primary.port, NAME=DATABASE, USER="root", PASSWORD=""
        )
        connections.settings[REPLICA] = {
            **default.settings_dict,
            "PORT": servers.replica.port,
            "OPTIONS": {**default.settings_dict["OPTIONS"], "connect_timeout": 1},
            "TEST": {**default.settings_dict["TEST"], "MIRROR": "default"},
        }
        settings = override_settings(
            DATABASE_REPLICAS=[REPLICA], DB_REPLICA_CHECK_SECONDS=0, DB_REPLICA_MAX_LAG_SECONDS=10
        )
        settings.enable()
        try:
            yield servers
        finally:
            settings.disable()
            for alias in ("default", REPLICA):
                connections[alias].close()
            del connections[REPLICA]
            del connections.settings[REPLICA]
            default.settings_dict.update(saved)
    finally:
        servers.stop()


@pytest.fixture
def replica_only(pair):
    """Changes the replica alone, so a read shows which server answered it (ids far above the
    primary's, so replicated inserts never collide), and undoes the change after the test:
    the primary's row-based clean-up would not see it."""
    undo = []

    def change(sql: str, undo_sql: str) -> None:
        pair.replica.execute(f"USE {DATABASE}", sql)
        undo.append(undo_sql)

    yield change
    if pair.replica.process.poll() is None:
        pair.replica.execute(f"USE {DATABASE}", *undo)


def group_names() -> set[str]:
    return set(Group.objects.values_list("name", flat=True))


def test_opted_in_reads_go_to_the_replica_other_reads_and_writes_to_the_primary(pair, replica_only):
    Group.objects.create(name="everywhere")
    pair.wait_replica_caught_up()
    replica_only(
        "INSERT INTO auth_group (id, name) VALUES (900001, 'replica-only')", "DELETE FROM auth_group WHERE id = 900001"
    )
    unpin()  # a new task: it has not written yet

    with replica_reads():
        assert group_names() == {"everywhere", "replica-only"}
    assert group_names() == {"everywhere"}

    Group.objects.create(name="written")  # the task wrote: now even opted-in reads see it
    with replica_reads():
        assert group_names() == {"everywhere", "written"}


def test_raw_sql_writes_and_transactions_read_from_the_primary(pair, replica_only):
    pair.wait_replica_caught_up()
    replica_only(
        "INSERT INTO auth_group (id, name) VALUES (900001, 'replica-only')", "DELETE FROM auth_group WHERE id = 900001"
    )
    unpin()
    with connections["default"].cursor() as cursor:
        cursor.execute("INSERT INTO auth_group (name) VALUES ('raw')")
    with replica_reads():
        assert group_names() == {"raw"}

    unpin()
    with transaction.atomic(), replica_reads():
        assert "replica-only" not in group_names()


def test_the_order_list_api_reads_the_replica_until_the_client_writes(pair, replica_only, staff_client):
    warehouse = WarehouseFactory()
    sku = SkuFactory()
    receive(sku, warehouse, 5)
    order = create_order((sku, 1), shop=ShopFactory(), buyer_id="buyer-on-primary")
    pair.wait_replica_caught_up()
    replica_only(
        f"UPDATE orders_order SET buyer_id = 'buyer-on-replica' WHERE id = {order.pk}",  # noqa: S608 - an int
        f"UPDATE orders_order SET buyer_id = 'buyer-on-primary' WHERE id = {order.pk}",  # noqa: S608 - an int
    )

    listed = staff_client.get("/api/v1/orders").json()["results"]
    assert [item["buyer_id"] for item in listed] == ["buyer-on-replica"]

    # The client writes: its next reads come from the primary (the pin cookie).
    response = staff_client.post(f"/api/v1/orders/{order.order_no}/remark", {"remark": "call first"}, format="json")
    assert response.status_code == 200
    listed = staff_client.get("/api/v1/orders").json()["results"]
    assert [item["buyer_id"] for item in listed] == ["buyer-on-primary"]


def test_admin_list_pages_read_their_rows_and_counts_from_the_replica(pair, replica_only, admin_client):
    payment = PaymentFactory()
    pair.wait_replica_caught_up()
    replica_only(
        f"UPDATE payments_payment SET amount = 12345.67 WHERE id = {payment.pk}",  # noqa: S608 - an int
        f"UPDATE payments_payment SET amount = {payment.amount} WHERE id = {payment.pk}",  # noqa: S608
    )

    page = admin_client.get("/admin/payments/payment/").content.decode()

    assert payment.out_trade_no in page
    assert "12345.67" in page


def test_a_replica_whose_sql_thread_stopped_is_bypassed_and_readyz_is_degraded(pair, client):
    pair.replica.execute("STOP SLAVE SQL_THREAD")
    try:
        Group.objects.create(name="after-the-stop")
        unpin()
        with replica_reads():
            assert group_names() == {"after-the-stop"}
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["status"] == "degraded"
        assert response.json()["checks"]["replicas"]["status"] == "degraded"
    finally:
        pair.replica.execute("START SLAVE SQL_THREAD")
    pair.wait_replica_caught_up()
    assert client.get("/readyz").json()["checks"]["replicas"]["status"] == "ok"


def test_a_replica_lagging_past_the_setting_is_bypassed(pair):
    pair.replica.execute("STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY = 30", "START SLAVE")
    try:
        Group.objects.create(name="delayed")
        time.sleep(2.2)  # the replica now holds the event and is 2 s behind
        with override_settings(DB_REPLICA_MAX_LAG_SECONDS=1):
            state = replica_state(REPLICA, fresh=True)
            assert (state.healthy, state.reason) == (False, "lagging")
            assert state.lag_seconds >= 2
            unpin()
            with replica_reads():
                assert group_names() == {"delayed"}
        with override_settings(DB_REPLICA_MAX_LAG_SECONDS=60):
            # Within the setting a stale answer is what opted-in reads accept.
            assert replica_state(REPLICA, fresh=True).healthy
            with replica_reads():
                assert group_names() == set()
    finally:
        pair.replica.execute("STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY = 0", "START SLAVE")
    pair.wait_replica_caught_up()


def test_a_dead_replica_is_bypassed_and_readyz_is_degraded_not_down(pair, client):
    # Last in the module: the replica does not come back.
    pair.replica.kill()
    Group.objects.create(name="primary-still-serves")
    unpin()
    with replica_reads():
        assert group_names() == {"primary-still-serves"}
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["replicas"] == {"status": "degraded", "required": False, "error": "ReplicaUnhealthy"}
