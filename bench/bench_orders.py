"""Order-creation and platform-conversion throughput on MariaDB, next to the database's own
ceiling for the same writes.

Run by hand (never in CI), with MariaDB and Redis on loopback:

    .venv/bin/python bench/bench_orders.py [--orders 2000] [--threads 4] [--lines 3]

It recreates the database ``oms_bench`` (``BENCH_DATABASE_URL`` to change it), seeds stock,
then measures, each with ``--threads`` threads:

1. ``order_create``: the service the API calls (validation, pricing, sourcing, conditional
   stock updates, ledger, reservations, status log, outbox event) in one transaction.
2. the ceiling: the same rows written by hand-built SQL in one transaction per order (one
   order row, a multi-row INSERT per table, one conditional UPDATE per stock row): what the
   database can do for these writes with no application around them.
3. platform conversion: raw Tmall orders already received are converted by
   ``raw_orders_convert_batch`` (batches of 50), in orders per second.

Results go to ``bench/results/orders.md`` (appended, with the date and machine).
"""

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", os.environ.get("BENCH_DATABASE_URL", "mysql://root@127.0.0.1:3306/oms_bench"))
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.channels.models import SkuMapping  # noqa: E402
from apps.channels.services import raw_orders_convert_batch, raw_orders_receive  # noqa: E402
from apps.channels.simulator.platforms import SimLine, SimSku, build_order  # noqa: E402
from apps.core.numbers import next_number  # noqa: E402
from apps.inventory.models import Sku, Stock, Warehouse  # noqa: E402
from apps.inventory.services import stock_receive  # noqa: E402
from apps.orders.services import OrderLineInput, RecipientInput, order_create  # noqa: E402
from apps.shops.models import Platform, Shop  # noqa: E402

RECIPIENT = RecipientInput("张伟", "13800000001", "浙江省", "杭州市", "西湖区", "文三路 478 号华星时代广场 A 座 1201")


def recreate_database() -> None:
    import MySQLdb

    db = settings.DATABASES["default"]
    server = MySQLdb.connect(
        host=db["HOST"] or "127.0.0.1", port=int(db["PORT"] or 3306), user=db["USER"], passwd=db["PASSWORD"]
    )
    with server.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{db['NAME']}`")
        cursor.execute(f"CREATE DATABASE `{db['NAME']}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    server.close()
    call_command("migrate", verbosity=0)


def seed(n_skus: int) -> tuple[list[Sku], Warehouse]:
    warehouse = Warehouse.objects.create(code="BENCH", name="压测仓", province="浙江省", city="杭州市")
    skus = [
        Sku.objects.create(code=f"BENCH-{i:03d}", name=f"压测商品 {i}", price=Decimal("59.00")) for i in range(n_skus)
    ]
    for sku in skus:
        stock_receive(
            sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=10_000_000, reference=f"bench-{sku.pk}", operator="bench"
        )
    return skus, warehouse


def run_threads(threads: int, per_thread: int, work) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        mine = []
        try:
            for n in range(per_thread):
                started = time.perf_counter()
                work(index, n)
                mine.append(time.perf_counter() - started)
        except BaseException as exc:  # noqa: BLE001 - reported after the run
            errors.append(exc)
        finally:
            connections.close_all()
            with lock:
                latencies.extend(mine)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed, latencies


def bench_order_create(skus: list[Sku], *, orders: int, threads: int, lines: int) -> dict:
    def work(index: int, n: int) -> None:
        chosen = [skus[(index * 7 + n + k) % len(skus)] for k in range(lines)]
        order_create(
            shop=None,
            buyer_id=f"bench-{index}",
            lines=[OrderLineInput(sku_id=sku.pk, quantity=1, unit_price=Decimal("59.00")) for sku in chosen],
            recipient=RECIPIENT,
            actor="bench",
        )

    return summarize(*run_threads(threads, orders // threads, work))


def bench_ceiling(skus: list[Sku], warehouse: Warehouse, *, orders: int, threads: int, lines: int) -> dict:
    """The same rows order_create writes, as plain SQL: no validation, no sourcing, no ORM."""
    stock_ids = dict(Stock.objects.filter(warehouse=warehouse).values_list("sku_id", "id"))

    def work(index: int, n: int) -> None:
        chosen = sorted({skus[(index * 7 + n + k) % len(skus)].pk for k in range(lines)})
        now = timezone.now()
        order_no = next_number()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO orders_order (order_no, platform, buyer_id, status, total_amount, discount_amount,"
                " shipping_fee, payable_amount, paid_amount, refunded_amount, payment_method, payment_deadline,"
                " recipient_name, recipient_phone, province, city, district, address, buyer_message, seller_remark,"
                " hold_reasons, cancel_reason, created_at, updated_at, version)"
                " VALUES (%s, 'own', %s, 'pending_payment', %s, 0, 0, %s, 0, 0, '', %s, %s, %s, %s, %s, %s, %s,"
                " '', '', '[]', '', %s, %s, 1)",
                [order_no, f"bench-{index}", 59 * len(chosen), 59 * len(chosen), now + timedelta(minutes=15),
                 *RECIPIENT_VALUES, now, now],
            )  # fmt: skip
            order_id = cursor.lastrowid
            cursor.executemany(
                "INSERT INTO orders_orderline (order_id, sku_id, sku_code, name, quantity, unit_price,"
                " discount_amount, line_total, platform_sku_id) VALUES (%s, %s, %s, %s, 1, 59, 0, 59, '')",
                [(order_id, sku_id, f"BENCH-{sku_id}", "压测商品") for sku_id in chosen],
            )
            for sku_id in chosen:
                cursor.execute(
                    "UPDATE inventory_stock SET reserved = reserved + 1, updated_at = %s"
                    " WHERE id = %s AND on_hand - reserved >= 1",
                    [now, stock_ids[sku_id]],
                )
                assert cursor.rowcount == 1
            cursor.executemany(
                "INSERT INTO inventory_stockmovement (stock_id, delta_on_hand, delta_reserved, reason, reference,"
                " operator, note, created_at) VALUES (%s, 0, 1, 'reserve', %s, 'bench', '', %s)",
                [(stock_ids[sku_id], order_no, now) for sku_id in chosen],
            )
            cursor.executemany(
                "INSERT INTO inventory_reservation (reference, line_reference, stock_id, quantity, status,"
                " created_at, updated_at) VALUES (%s, '', %s, 1, 'active', %s, %s)",
                [(order_no, stock_ids[sku_id], now, now) for sku_id in chosen],
            )
            cursor.execute(
                "INSERT INTO orders_orderstatuslog (order_id, from_status, to_status, operator, remark, created_at)"
                " VALUES (%s, '', 'pending_payment', 'bench', '', %s)",
                [order_id, now],
            )
            cursor.execute(
                "INSERT INTO core_outboxevent (topic, aggregate_type, aggregate_id, payload, created_at, fanned_out)"
                " VALUES ('order.created', 'order', %s, '{}', %s, 0)",
                [order_no, now],
            )

    return summarize(*run_threads(threads, orders // threads, work))


RECIPIENT_VALUES = [
    RECIPIENT.name,
    RECIPIENT.phone,
    RECIPIENT.province,
    RECIPIENT.city,
    RECIPIENT.district,
    RECIPIENT.address,
]


def bench_conversion(skus: list[Sku], warehouse: Warehouse, *, orders: int) -> dict:
    shop = Shop.objects.create(code="bench-tmall", name="压测天猫店", platform=Platform.TMALL, app_key="bench-tmall")
    shop.warehouses.add(warehouse)
    sim_skus = []
    for index, sku in enumerate(skus[:10]):
        sim = SimSku(
            platform_sku_id=f"88{index:04d}",
            outer_id=sku.code,
            item_id=f"77{index:03d}",
            title=sku.name,
            price=Decimal("59.00"),
        )
        SkuMapping.objects.create(
            shop=shop, sku=sku, platform_sku_id=sim.platform_sku_id, outer_id=sku.code, platform_item_id=sim.item_id
        )
        sim_skus.append(sim)
    payloads = [
        build_order(
            "tmall",
            order_id=f"BT{n:07d}",
            lines=[SimLine(sim_skus[n % 10], 1), SimLine(sim_skus[(n + 3) % 10], 2)],
            status="paid",
            updated_at=timezone.now().replace(microsecond=0),
            buyer=f"tb-buyer-{n}",
        )
        for n in range(orders)
    ]
    for start in range(0, orders, 100):
        raw_orders_receive(shop=shop, payloads=payloads[start : start + 100], actor="bench")
    started = time.perf_counter()
    converted = 0
    while True:
        report = raw_orders_convert_batch(actor="bench")
        if not report.processed:
            break
        converted += len(report.converted)
    elapsed = time.perf_counter() - started
    return {"orders": converted, "seconds": elapsed, "per_second": converted / elapsed}


def summarize(elapsed: float, latencies: list[float]) -> dict:
    latencies.sort()
    return {
        "orders": len(latencies),
        "seconds": elapsed,
        "per_second": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument("--convert", type=int, default=1000, help="raw platform orders to convert")
    args = parser.parse_args()

    recreate_database()
    skus, warehouse = seed(50)
    service = bench_order_create(skus, orders=args.orders, threads=args.threads, lines=args.lines)
    ceiling = bench_ceiling(skus, warehouse, orders=args.orders, threads=args.threads, lines=args.lines)
    conversion = bench_conversion(skus, warehouse, orders=args.convert)

    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        db_version = cursor.fetchone()[0]
    report = [
        f"## {timezone.localtime():%Y-%m-%d %H:%M} — {platform.node()}, {os.cpu_count()} cores, MariaDB {db_version}",
        "",
        f"`bench/bench_orders.py --orders {args.orders} --threads {args.threads} --lines {args.lines} --convert {args.convert}`",
        "",
        "| what | orders | seconds | orders/s | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|",
        row("order_create (service)", service),
        row("same writes, raw SQL (ceiling)", ceiling),
        row("platform conversion (batches of 50, 1 thread)", conversion),
        "",
        f"order_create reaches {service['per_second'] / ceiling['per_second']:.0%} of the raw-SQL ceiling.",
        "",
    ]
    text = "\n".join(report)
    print(text)
    results = ROOT / "bench" / "results" / "orders.md"
    results.parent.mkdir(exist_ok=True)
    with results.open("a") as out:
        out.write(text + "\n")


def row(name: str, result: dict) -> str:
    p50 = f"{result['p50_ms']:.1f}" if "p50_ms" in result else "—"
    p95 = f"{result['p95_ms']:.1f}" if "p95_ms" in result else "—"
    return f"| {name} | {result['orders']} | {result['seconds']:.1f} | {result['per_second']:.0f} | {p50} | {p95} |"


if __name__ == "__main__":
    main()
