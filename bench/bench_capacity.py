"""Per-core costs for the capacity model (docs/SCALING.md): CPU seconds of the OMS process
and of the database server per order, and SQL statements per order, for order creation and
platform conversion.

Run by hand (never in CI), with MariaDB and Redis on loopback, ideally on an idle machine:

    .venv/bin/python bench/bench_capacity.py [--orders 1000] [--threads 4] [--convert 1000]

It uses ``bench_orders.py``'s database (recreated) and workloads. The OMS's CPU is this
process's own (``time.process_time``, every thread); the database's is the ``mariadbd``
process's from ``/proc`` (on a machine where other clients use the same server, an upper
bound). Results are appended to ``bench/results/capacity.md``.
"""

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_orders  # sets up Django, so it comes before the Django imports
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone


def database_cpu_seconds() -> float:
    pid = subprocess.run(["pidof", "mariadbd"], capture_output=True, text=True, check=True).stdout.split()[0]  # noqa: S607
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def measured(work) -> dict:
    cpu, db, wall = time.process_time(), database_cpu_seconds(), time.perf_counter()
    result = work()
    result["app_cpu_ms"] = (time.process_time() - cpu) * 1000 / result["orders"]
    result["db_cpu_ms"] = (database_cpu_seconds() - db) * 1000 / result["orders"]
    result["wall"] = time.perf_counter() - wall
    return result


def statements_per_order(skus, lines: int) -> int:
    with CaptureQueriesContext(connection) as queries:
        bench_orders.order_create(
            shop=None,
            buyer_id="bench-count",
            lines=[
                bench_orders.OrderLineInput(sku_id=sku.pk, quantity=1, unit_price=sku.price) for sku in skus[:lines]
            ],
            recipient=bench_orders.RECIPIENT,
            actor="bench",
        )
    return len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument("--convert", type=int, default=1000)
    args = parser.parse_args()

    bench_orders.recreate_database()
    skus, warehouse = bench_orders.seed(50)
    statements = statements_per_order(skus, args.lines)
    create = measured(
        lambda: bench_orders.bench_order_create(skus, orders=args.orders, threads=args.threads, lines=args.lines)
    )
    convert = measured(lambda: bench_orders.bench_conversion(skus, warehouse, orders=args.convert))
    load = os.getloadavg()[0]
    lines = [
        f"## {timezone.localtime():%Y-%m-%d %H:%M} — {platform.node()}, {os.cpu_count()} cores, load {load:.1f}",
        "",
        f"`bench/bench_capacity.py --orders {args.orders} --threads {args.threads} --lines {args.lines} "
        f"--convert {args.convert}`",
        "",
        "| what | orders | orders/s (this box) | OMS CPU ms/order | database CPU ms/order | SQL statements/order |",
        "|---|---|---|---|---|---|",
        f"| order_create ({args.lines} lines) | {create['orders']} | {create['per_second']:.0f} | "
        f"{create['app_cpu_ms']:.1f} | {create['db_cpu_ms']:.1f} | {statements} |",
        f"| platform conversion (batches of 50) | {convert['orders']} | {convert['per_second']:.0f} | "
        f"{convert['app_cpu_ms']:.1f} | {convert['db_cpu_ms']:.1f} | — |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    with (bench_orders.ROOT / "bench" / "results" / "capacity.md").open("a") as out:
        out.write(text + "\n")


if __name__ == "__main__":
    main()
