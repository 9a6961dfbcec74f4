"""The cache, nonces and the hot-SKU gate on Redis Sentinel (a primary, a replica, three
sentinels) and on a Redis Cluster (three primaries, three replicas), both started here:
the primary is killed mid-sale, the OMS carries on after the failover, nothing is oversold."""

import signal
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import redis
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django_redis import get_redis_connection

from apps.core.exceptions import Conflict
from apps.inventory.gate import _admitted_key, gate_counter, gate_key, gate_sync
from oms.caches import redis_caches
from tests.orders.factories import SkuFactory, WarehouseFactory, create_order, receive, stock_of
from tests.scale.servers import free_port, require, start, stop, wait_until

pytestmark = [pytest.mark.scale, pytest.mark.django_db(transaction=True)]


def redis_server(folder, port: int, *args: str) -> subprocess.Popen:
    folder.mkdir(exist_ok=True)
    # Replicas sync at once (no diskless delay) and may always be promoted, however long a
    # busy machine kept them from their primary.
    argv = [require("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
            "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0", *args]  # fmt: skip
    process = start(argv, log=folder / f"redis-{port}.log")
    wait_until(lambda: redis.Redis(port=port).ping(), timeout=20, what=f"redis on {port}")
    return process


def info(port: int, section: str) -> dict:
    return redis.Redis(port=port, socket_timeout=1).info(section)


def wait_for_replicas(ports: list[int]) -> None:
    """Until every replica among ``ports`` has its primary's data (a replica killed off
    before its first sync could never be promoted)."""
    for port in ports:
        wait_until(lambda port=port: info(port, "replication")["role"] == "master"
                   or info(port, "replication")["master_link_status"] == "up", timeout=60,
                   what=f"redis {port} to sync with its primary")  # fmt: skip


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sentinel")
    master, replica = free_port(), free_port()
    processes = {master: redis_server(folder / "primary", master)}
    processes[replica] = redis_server(folder / "replica", replica, "--replicaof", "127.0.0.1", str(master))
    sentinels = [free_port() for _ in range(3)]
    try:
        for port in sentinels:
            conf = folder / f"sentinel-{port}.conf"  # sentinels rewrite their file: one each
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {folder}\n"
                f"sentinel monitor oms 127.0.0.1 {master} 2\n"
                "sentinel down-after-milliseconds oms 1000\nsentinel failover-timeout oms 10000\n"
            )
            processes[port] = start([require("redis-sentinel"), str(conf)], log=folder / f"sentinel-{port}.log")
        for port in sentinels:
            wait_until(lambda port=port: sentinel_view(port)["num-slaves"] == 1
                       and sentinel_view(port)["num-other-sentinels"] == 2, timeout=30,
                       what=f"sentinel {port} to see the replica and its peers")  # fmt: skip
        wait_for_replicas([replica])
        yield SimpleNamespace(master=master, replica=replica, sentinels=sentinels, processes=processes)
    finally:
        for process in processes.values():
            stop(process)


def sentinel_view(port: int) -> dict:
    """What a sentinel knows of the service (SENTINEL MASTER, read raw: redis-py 6.4 fails to parse it)."""
    reply = redis.Redis(port=port, decode_responses=True).execute_command("SENTINEL", "MASTER", "oms")
    view = dict(zip(reply[::2], reply[1::2], strict=True))
    return {key: int(value) if value.isdigit() else value for key, value in view.items()}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster")
    ports = [free_port(also_free=10000) for _ in range(6)]  # the cluster bus listens on port + 10000
    processes = {}
    try:
        for port in ports:
            processes[port] = redis_server(folder / str(port), port, "--cluster-enabled", "yes",
                                           "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000",
                                           "--cluster-replica-validity-factor", "0")  # fmt: skip
        subprocess.run(  # noqa: S603 - the machine's redis-cli
            [require("redis-cli"), "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", "1", "--cluster-yes"],
            capture_output=True, timeout=60, check=True,
        )  # fmt: skip
        for port in ports:
            wait_until(lambda port=port: cluster_ok(port), timeout=30,
                       what=f"cluster node {port} to be ready")  # fmt: skip
        wait_for_replicas(ports)
        yield SimpleNamespace(ports=ports, processes=processes)
    finally:
        for process in processes.values():
            stop(process)


def cluster_ok(port: int) -> bool:
    return redis.Redis(port=port, decode_responses=True).cluster("INFO")["cluster_state"] == "ok"


def gate_slot_port(ports: list[int], key: str) -> int:
    """The port of the primary that the surviving nodes say serves ``key``."""
    client = redis.RedisCluster(startup_nodes=[redis.cluster.ClusterNode("127.0.0.1", port) for port in ports])
    try:
        return client.get_node_from_key(key).port
    finally:
        client.close()


def buy(skus, count: int) -> int:
    """``count`` buyers at once, each ordering one of every SKU; returns how many got their order."""

    def one(buyer: int) -> bool:
        try:
            create_order(*((sku, 1) for sku in skus), buyer_id=f"buyer-{buyer}")
        except Conflict as exc:
            assert exc.code == "insufficient_stock"
            return False
        finally:
            connection.close()
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        return sum(pool.map(one, range(count)))


def hot_skus(warehouse, stock: int, count: int = 1) -> list:
    skus = [SkuFactory(is_hot=True) for _ in range(count)]
    for sku in skus:
        receive(sku, warehouse, stock)
    return skus


def test_sentinel_failover_mid_sale_sells_exactly_the_stock(sentinel, client):
    nodes = [f"127.0.0.1:{port}" for port in sentinel.sentinels]
    with override_settings(CACHES=redis_caches(sentinels=nodes, key_prefix=f"t{uuid.uuid4().hex[:8]}")):
        warehouse = WarehouseFactory()
        [sku] = hot_skus(warehouse, 20)
        gate_sync()
        assert buy([sku], 8) == 8
        assert gate_counter(sku.pk) == 12
        assert cache.add("nonce:before", 1) is True

        stop(sentinel.processes[sentinel.master], sig=signal.SIGKILL)
        wait_until(lambda: sentinel_view(sentinel.sentinels[0])["port"] == sentinel.replica, timeout=60,
                   what="the sentinels to promote the replica")  # fmt: skip

        assert buy([sku], 16) == 12  # the rest of the stock, and not one unit more
        assert info(sentinel.replica, "replication")["role"] == "master"
        stock = stock_of(sku, warehouse)
        assert (stock.on_hand, stock.reserved) == (20, 20)
        assert gate_counter(sku.pk) == 0  # the gate runs on the promoted replica
        assert cache.add("nonce:before", 1) is False  # replicated before the failover: a replay is still refused
        assert cache.add("nonce:after", 1) is True
        assert client.get("/readyz").status_code == 200


def test_cluster_runs_the_gate_on_one_slot_and_survives_a_primary_failover(cluster, client):
    nodes = [f"127.0.0.1:{port}" for port in cluster.ports[:3]]
    with override_settings(CACHES=redis_caches(cluster_nodes=nodes, key_prefix=f"t{uuid.uuid4().hex[:8]}")):
        warehouse = WarehouseFactory()
        first, second = hot_skus(warehouse, 10, count=2)
        gate_sync()
        raw = get_redis_connection("default")
        assert (
            len({raw.keyslot(gate_key(first.pk)), raw.keyslot(gate_key(second.pk)), raw.keyslot(_admitted_key("x"))})
            == 1
        )

        assert buy([first, second], 14) == 10  # one Lua script takes both SKUs, all or nothing
        assert (gate_counter(first.pk), gate_counter(second.pk)) == (0, 0)

        values = {f"spread-{i}": i for i in range(30)}  # keys over every primary
        cache.set_many(values)
        assert cache.get_many(list(values)) == values

        gate_node = raw.get_node_from_key(gate_key(first.pk))
        stop(cluster.processes[gate_node.port], sig=signal.SIGKILL)
        survivors = [port for port in cluster.ports if port != gate_node.port]
        wait_until(lambda: gate_slot_port(survivors, gate_key(first.pk)) != gate_node.port
                   and all(cluster_ok(port) for port in survivors), timeout=60,
                   what="a replica to take over the gate's slot")  # fmt: skip

        receive(first, warehouse, 5)
        receive(second, warehouse, 5)
        gate_sync()
        assert buy([first, second], 8) == 5
        for sku in (first, second):
            stock = stock_of(sku, warehouse)
            assert (stock.on_hand, stock.reserved) == (15, 15)
            assert gate_counter(sku.pk) == 0
        assert cache.get_many(list(values)) == values  # replicated before the failover
        assert client.get("/readyz").status_code == 200
