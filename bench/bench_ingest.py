"""Platform ingestion end to end: signed pushes of platform orders until every order is
audited, allocated and has its fulfillments, with the workers production runs.

Run by hand (never in CI), with MariaDB and Redis on loopback and nothing else busy:

    .venv/bin/python bench/bench_ingest.py [--orders 2000] [--batch 100] [--clients 4] [--port 17410]

It recreates its own database (``BENCH_DATABASE_URL``, default ``oms_bench_ingest``; Redis
and broker ``BENCH_REDIS_URL``, default db 15: the script empties that Redis database), seeds
10 SKUs, a warehouse and a Tmall shop with its SKU mappings, and starts, as the containers
do: ``docker/start-web.sh`` (gunicorn, ``DEBUG=false``), ``docker/start-worker.sh`` (Celery)
and ``docker/start-beat.sh`` (which runs the outbox relay every few seconds). Then
``--clients`` clients push ``--orders`` paid Tmall orders (2 lines each) in signed batches of
``--batch`` to ``POST /api/v1/channels/{shop}/orders``, and the script waits until every order
is ``pending_shipment`` with its fulfillments.

Prints the push rate, the time until all raw orders are converted and until all are
allocated (from the first push), and CPU seconds of web, worker + beat and mariadbd; checks
the stock (reserved == units ordered) and ``check_stock_ledger``. Results are appended to
``bench/results/ingest.md``.
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpbench

httpbench.configure("oms_bench_ingest")

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count, Sum  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.channels.models import RawOrder, SkuMapping  # noqa: E402
from apps.channels.simulator.platforms import SimLine, SimSku, build_order  # noqa: E402
from apps.inventory.models import Sku, Stock, Warehouse  # noqa: E402
from apps.inventory.services import stock_receive  # noqa: E402
from apps.orders.models import Order, OrderStatus  # noqa: E402
from apps.shops.models import Platform, Shop  # noqa: E402

SECRET = "bench-ingest-app-secret"
STOCK = 10_000_000


def seed() -> tuple[Shop, list[SimSku], list[Sku]]:
    warehouse = Warehouse.objects.create(code="BENCH", name="压测仓", province="浙江省", city="杭州市")
    shop = Shop(code="bench-tmall", name="压测天猫店", platform=Platform.TMALL, app_key="bench-tmall")
    shop.set_app_secret(SECRET)
    shop.save()
    shop.warehouses.add(warehouse)
    sim_skus, skus = [], []
    for index in range(10):
        sku = Sku.objects.create(code=f"BENCH-{index:03d}", name=f"压测商品 {index}", price=Decimal("59.00"))
        stock_receive(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=STOCK, reference=f"b-{index}", operator="b")
        sim = SimSku(
            platform_sku_id=f"88{index:04d}",
            outer_id=sku.code,
            item_id=f"77{index:03d}",
            title=sku.name,
            price=sku.price,
        )
        SkuMapping.objects.create(
            shop=shop, sku=sku, platform_sku_id=sim.platform_sku_id, outer_id=sku.code, platform_item_id=sim.item_id
        )
        sim_skus.append(sim)
        skus.append(sku)
    return shop, sim_skus, skus


def start_role(script: str, log_name: str) -> tuple[subprocess.Popen, object]:
    log = open(tempfile.mkstemp(prefix=f"bench-{log_name}-", suffix=".log")[1], "w")  # noqa: SIM115
    process = subprocess.Popen(  # noqa: S603 - one of our own start scripts
        ["sh", script],  # noqa: S607 - the shell on PATH, as the container runs it
        cwd=httpbench.ROOT,
        env=httpbench.venv_env({}),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--port", type=int, default=17410)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for allocation")
    args = parser.parse_args()

    if args.orders % (args.batch * args.clients):
        parser.error("--orders must be a multiple of --batch times --clients")
    httpbench.recreate_database()
    shop, sim_skus, _skus = seed()
    updated_at = timezone.now().replace(microsecond=0)
    batches = []
    for start in range(0, args.orders, args.batch):
        batches.append(
            httpbench.json_body(
                [
                    build_order(
                        "tmall",
                        order_id=f"BI{n:08d}",
                        lines=[SimLine(sim_skus[n % 10], 1), SimLine(sim_skus[(n + 3) % 10], 2)],
                        status="paid",
                        updated_at=updated_at,
                        buyer=f"tb-buyer-{n}",
                    )
                    for n in range(start, min(start + args.batch, args.orders))
                ],
            )
        )
    path = f"/api/v1/channels/{shop.code}/orders"

    def push(client: int, n: int):
        body = batches[client + n * args.clients]
        headers = httpbench.signed_headers(shop.app_key, SECRET, "POST", path, body)
        headers["Content-Type"] = "application/json"
        return "POST", path, body, headers

    web = httpbench.Server(port=args.port, workers=2, worker_class="gthread", threads=8)
    worker, worker_log = start_role("docker/start-worker.sh", "worker")
    beat, beat_log = start_role("docker/start-beat.sh", "beat")
    mariadb = httpbench.mariadb_pids()
    time.sleep(3)  # worker and beat connected

    def cpu() -> dict:
        return {
            "web": httpbench.cpu_seconds(web.pids()),
            "workers": httpbench.cpu_seconds(
                [worker.pid, *httpbench.descendants(worker.pid), beat.pid, *httpbench.descendants(beat.pid)]
            ),
            "mariadb": httpbench.cpu_seconds(mariadb),
            "statements": web.statements(),
        }

    try:
        started = time.perf_counter()
        before = cpu()
        pushed = httpbench.closed_loop(
            args.port, clients=args.clients, requests=len(batches), make_request=push, measure=lambda: before
        )
        push_seconds = time.perf_counter() - started
        converted_at = allocated_at = None
        deadline = started + args.timeout
        while time.perf_counter() < deadline:
            now = time.perf_counter() - started
            if converted_at is None and Order.objects.count() >= args.orders:
                converted_at = now
            done = Order.objects.filter(status=OrderStatus.PENDING_SHIPMENT).count()
            if done >= args.orders:
                allocated_at = now
                break
            time.sleep(0.2)
        after = cpu()
    finally:
        web.stop()
        httpbench.stop_group(worker)
        httpbench.stop_group(beat)
        worker_log.close()
        beat_log.close()

    statuses = dict(Order.objects.values_list("status").annotate(n=Count("id")))
    with_fulfillments = Order.objects.filter(lines__fulfillment_lines__isnull=False).distinct().count()
    reserved = Stock.objects.aggregate(r=Sum("reserved"))["r"] or 0
    checks = [
        check(pushed["statuses"].get(202, 0) == len(batches), f"pushes answered 202: {dict(pushed['statuses'])}"),
        check(RawOrder.objects.count() == args.orders, f"raw orders stored: {RawOrder.objects.count()}"),
        check(allocated_at is not None, f"orders by status: {statuses}"),
        check(with_fulfillments == args.orders, f"orders with fulfillments: {with_fulfillments}"),
        check(reserved == 3 * args.orders, f"reserved {reserved} units for {args.orders} orders of 3 units"),
    ]
    try:
        call_command("check_stock_ledger", stdout=open(os.devnull, "w"))  # noqa: SIM115
        checks.append(check(True, "check_stock_ledger clean"))
    except Exception as exc:  # noqa: BLE001 - reported as a failed check
        checks.append(check(False, f"check_stock_ledger: {exc}"))

    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        db_version = cursor.fetchone()[0]
    delta = {key: after[key] - before[key] for key in before}
    n = args.orders

    def rate(seconds):
        return f"{seconds:.1f} s, {n / seconds:.0f} orders/s" if seconds else "not reached"

    lines = [
        f"## {timezone.now():%Y-%m-%d %H:%M} UTC — {platform.node()}, {os.cpu_count()} cores, MariaDB {db_version}",
        "",
        f"`bench/bench_ingest.py --orders {n} --batch {args.batch} --clients {args.clients}` "
        f"(git {httpbench.git_revision()}; web: 2 gthread workers x 8 threads, worker: Celery as docker/start-worker.sh, beat)",
        "",
        f"- push: {len(batches)} signed batches of {args.batch} in {rate(push_seconds)} "
        f"(p50 {pushed['p50_ms']:.0f} ms, p99 {pushed['p99_ms']:.0f} ms per batch)",
        f"- all converted to orders: {rate(converted_at)} from the first push",
        f"- all audited, allocated, with fulfillments: **{rate(allocated_at)}** from the first push",
        f"- CPU ms per order: web {delta['web'] * 1000 / n:.2f}, worker + beat {delta['workers'] * 1000 / n:.2f}, "
        f"mariadbd {delta['mariadb'] * 1000 / n:.2f}; web SQL statements per order {delta['statements'] / n:.2f}",
        "",
        *checks,
        "",
    ]
    text = "\n".join(lines)
    print(text)
    with (Path(__file__).resolve().parent / "results" / "ingest.md").open("a") as out:
        out.write(text + "\n")


def check(ok: bool, text: str) -> str:
    return f"- {'ok' if ok else 'FAILED'}: {text}"


if __name__ == "__main__":
    main()
