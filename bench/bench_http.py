"""Orders over HTTP, as production serves them, next to the database's ceiling and the
framework's floor, all in one run.

Run by hand (never in CI), with MariaDB and Redis on loopback and nothing else busy:

    .venv/bin/python bench/bench_http.py [--clients 8,32] [--requests 2000] [--port 17400]
        [--workers 2] [--worker-class gthread|sync] [--threads 8]

It recreates its own database (``BENCH_DATABASE_URL``, default ``oms_bench_http``; Redis
``BENCH_REDIS_URL``, default db 15), seeds 50 SKUs and a storefront shop, starts
``docker/start-web.sh`` (gunicorn, ``DEBUG=false``) and measures, for each client count:

1. ``POST /api/v1/orders``, signed, with an ``Idempotency-Key``, 3 lines of 1 unit;
2. the ceiling: the same rows written by hand-built SQL in one transaction per order
   (``bench_orders.bench_ceiling``), from as many threads;
3. ``GET /healthz``: the framework's floor (no SQL, no authentication);
4. ``GET /api/v1/orders/{no}``, signed, of one order (its cached detail);

then a flash sale: one hot SKU with 1,000 units, ``--flash`` one-unit attempts from the
largest client count; exactly 1,000 must sell.

Per phase: requests/s, p50/p95/p99, SQL statements per request (counted inside each
gunicorn worker, ``bench/gunicorn_counting.py``: MariaDB's global counters would include
other clients of a shared server) and CPU ms per request of the gunicorn processes and of
mariadbd (from /proc; mariadbd's figure includes anything else the server does meanwhile).
Afterwards: orders in the database == 201 answers, reserved stock == units sold, on_hand
untouched, ``check_stock_ledger`` clean. Results are appended to ``bench/results/http.md``.
"""

import argparse
import os
import platform
import sys
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpbench

httpbench.configure("oms_bench_http")

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Sum  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.inventory.gate import gate_sync  # noqa: E402
from apps.inventory.models import Sku, Stock, Warehouse  # noqa: E402
from apps.inventory.services import stock_receive  # noqa: E402
from apps.orders.models import Order  # noqa: E402
from apps.shops.models import Platform, Shop  # noqa: E402

SECRET = "bench-http-app-secret"
RECIPIENT = {
    "name": "张伟",
    "phone": "13800000001",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "address": "文三路 478 号华星时代广场 A 座 1201",
}
FLASH_UNITS = 1000


def seed() -> tuple[Shop, list[Sku], Warehouse, Sku]:
    warehouse = Warehouse.objects.create(code="BENCH", name="压测仓", province="浙江省", city="杭州市")
    skus = [Sku.objects.create(code=f"BENCH-{i:03d}", name=f"压测商品 {i}", price=Decimal("59.00")) for i in range(50)]
    for sku in skus:
        stock_receive(
            sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=10_000_000, reference=f"bench-{sku.pk}", operator="bench"
        )
    hot = Sku.objects.create(code="FLASH-001", name="秒杀商品", price=Decimal("9.90"), is_hot=True)
    stock_receive(sku_id=hot.pk, warehouse_id=warehouse.pk, quantity=FLASH_UNITS, reference="flash", operator="bench")
    # A storefront that sells at this rate has limits set to match by staff (the defaults would
    # refuse most of the load with 429 rate_limited).
    unlimited = {
        f"rate_limit_{kind}_{part}": 10_000_000
        for kind in ("create", "read", "push")
        for part in ("per_minute", "burst")
    }
    shop = Shop(code="bench-own", name="压测自营店", platform=Platform.OWN, app_key="bench-own", **unlimited)
    shop.set_app_secret(SECRET)
    shop.save()
    shop.warehouses.add(warehouse)
    # What beat's inventory.hot_sku_gate_sync does within its interval in production: the gate
    # counts the flash-sale SKU's units in Redis.
    gate_sync()
    return shop, skus, warehouse, hot


def create_request(skus: list[Sku], quantity_sku=None):
    def make(client: int, n: int):
        if quantity_sku is not None:
            lines = [{"sku_code": quantity_sku.code, "quantity": 1, "unit_price": str(quantity_sku.price)}]
        else:
            lines = [
                {"sku_code": skus[(client * 7 + n + k) % len(skus)].code, "quantity": 1, "unit_price": "59.00"}
                for k in range(3)
            ]
        # A buyer per order: a buyer may hold only ORDER_MAX_UNPAID_PER_BUYER unpaid orders.
        body = httpbench.json_body({"buyer_id": f"bench-{client}-{n}", "recipient": RECIPIENT, "lines": lines})
        path = "/api/v1/orders"
        headers = httpbench.signed_headers("bench-own", SECRET, "POST", path, body)
        headers.update({"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex})
        return "POST", path, body, headers

    return make


def get_request(path: str, *, signed: bool):
    def make(client: int, n: int):
        headers = httpbench.signed_headers("bench-own", SECRET, "GET", path, b"") if signed else {}
        return "GET", path, None, headers

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="8,32")
    parser.add_argument("--requests", type=int, default=2000, help="requests per phase")
    parser.add_argument("--flash", type=int, default=20000, help="one-unit attempts at the flash-sale SKU")
    parser.add_argument("--port", type=int, default=17400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    client_counts = [int(c) for c in args.clients.split(",")]

    httpbench.recreate_database()
    _shop, skus, warehouse, hot = seed()
    import bench_orders  # the raw-SQL ceiling, shared with the service benchmark

    server = httpbench.Server(
        port=args.port, workers=args.workers, worker_class=args.worker_class, threads=args.threads
    )
    mariadb = httpbench.mariadb_pids()

    def measure() -> dict:
        return {
            "statements": server.statements(),
            "app_cpu": httpbench.cpu_seconds(server.pids()),
            "db_cpu": httpbench.cpu_seconds(mariadb),
        }

    rows: list[tuple[str, dict]] = []
    created = 0
    try:
        # Warm up: every worker imports, connects and fills its caches before anything is timed.
        warm_up = httpbench.closed_loop(
            args.port, clients=8, requests=200, make_request=create_request(skus), measure=measure
        )
        for clients in client_counts:
            result = httpbench.closed_loop(
                args.port, clients=clients, requests=args.requests, make_request=create_request(skus), measure=measure
            )
            rows.append((f"POST /api/v1/orders, {clients} clients", result))
            ceiling = ceiling_phase(bench_orders, skus, warehouse, clients=clients, orders=args.requests)
            rows.append((f"same writes, raw SQL, {clients} threads (ceiling)", ceiling))
            rows.append(
                (
                    f"GET /healthz, {clients} clients (floor)",
                    httpbench.closed_loop(
                        args.port,
                        clients=clients,
                        requests=args.requests,
                        make_request=get_request("/healthz", signed=False),
                        measure=measure,
                    ),
                )
            )
        order_no = Order.objects.order_by("id").values_list("order_no", flat=True).first()
        for clients in client_counts:
            rows.append(
                (
                    f"GET /api/v1/orders/{{no}} (cached), {clients} clients",
                    httpbench.closed_loop(
                        args.port,
                        clients=clients,
                        requests=args.requests,
                        make_request=get_request(f"/api/v1/orders/{order_no}", signed=True),
                        measure=measure,
                    ),
                )
            )
        flash_clients = max(client_counts)
        flash = httpbench.closed_loop(
            args.port,
            clients=flash_clients,
            requests=args.flash,
            make_request=create_request(skus, quantity_sku=hot),
            measure=measure,
        )
        rows.append((f"flash sale, {flash_clients} clients, {args.flash} attempts", flash))
    finally:
        server.stop()

    created = sum(
        r["statuses"].get(201, 0) for name, r in [("warm-up POST", warm_up), *rows] if "POST" in name or "flash" in name
    )
    checks = verify(rows, skus=skus, hot=hot, warehouse=warehouse, created_by_http=created)
    report(args, rows, checks)


def ceiling_phase(bench_orders, skus, warehouse, *, clients: int, orders: int) -> dict:
    mariadb = httpbench.mariadb_pids()
    before = httpbench.cpu_seconds(mariadb)
    result = bench_orders.bench_ceiling(skus, warehouse, orders=orders, threads=clients, lines=3)
    result.update(
        requests=result["orders"],
        clients=clients,
        statuses={201: result["orders"]},
        delta={"statements": 9 * result["orders"], "app_cpu": None, "db_cpu": httpbench.cpu_seconds(mariadb) - before},
    )
    return result


def verify(rows, *, skus, hot, warehouse, created_by_http: int) -> list[str]:
    """What must hold after the run; each line says whether it did."""
    ceiling_orders = sum(r["requests"] for name, r in rows if "ceiling" in name)
    http_orders = Order.objects.count() - ceiling_orders
    checks = []
    flash = next(r for name, r in rows if name.startswith("flash"))
    sold = flash["statuses"].get(201, 0)
    refused = flash["statuses"].get(409, 0)
    checks.append(check(sold == FLASH_UNITS, f"flash sale sold {sold} of {FLASH_UNITS} units"))
    checks.append(
        check(
            sold + refused == flash["requests"],
            f"flash sale: {sold} sold + {refused} refused (409) = {flash['requests']} attempts",
        )
    )
    hot_stock = Stock.objects.get(sku=hot, warehouse=warehouse)
    checks.append(
        check(
            hot_stock.reserved == sold and hot_stock.on_hand == FLASH_UNITS,
            f"flash SKU: on_hand {hot_stock.on_hand}, reserved {hot_stock.reserved}",
        )
    )
    created_three_line = http_orders - sold + ceiling_orders
    reserved = Stock.objects.filter(sku__in=skus).aggregate(r=Sum("reserved"), h=Sum("on_hand"))
    checks.append(
        check(
            reserved["r"] == 3 * created_three_line and reserved["h"] == 10_000_000 * len(skus),
            f"3-line orders: {created_three_line} (incl. {ceiling_orders} raw SQL) -> "
            f"reserved {reserved['r']} units, on_hand untouched",
        )
    )
    checks.append(
        check(
            http_orders == created_by_http and all(not (set(r["statuses"]) - {200, 201, 409}) for _name, r in rows),
            f"orders in the database from HTTP ({http_orders}) == 201 answers, warm-up included "
            f"({created_by_http}); no answer other than 200/201/409",
        )
    )
    try:
        call_command("check_stock_ledger", stdout=open(os.devnull, "w"))  # noqa: SIM115
        checks.append(check(True, "check_stock_ledger clean"))
    except Exception as exc:  # noqa: BLE001 - reported as a failed check
        checks.append(check(False, f"check_stock_ledger: {exc}"))
    return checks


def check(ok: bool, text: str) -> str:
    return f"- {'ok' if ok else 'FAILED'}: {text}"


def report(args, rows, checks) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        db_version = cursor.fetchone()[0]
    lines = [
        f"## {timezone.now():%Y-%m-%d %H:%M} UTC — {platform.node()}, {os.cpu_count()} cores, MariaDB {db_version}",
        "",
        f"`bench/bench_http.py --clients {args.clients} --requests {args.requests} --flash {args.flash} "
        f"--workers {args.workers} --worker-class {args.worker_class} --threads {args.threads}` (git "
        f"{httpbench.git_revision()})",
        "",
        "| what | requests | req/s | p50 ms | p95 ms | p99 ms | SQL / req | app CPU ms / req | MariaDB CPU ms / req |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        n = max(r["requests"], 1)
        delta = r["delta"]
        app_cpu = "—" if delta["app_cpu"] is None else f"{delta['app_cpu'] * 1000 / n:.1f}"
        lines.append(
            f"| {name} | {r['requests']} | {r['per_second']:.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{r.get('p99_ms', 0):.1f} | {delta['statements'] / n:.1f} | {app_cpu} | {delta['db_cpu'] * 1000 / n:.2f} |"
        )
    lines += ["", *ratios(rows), "", *checks, ""]
    text = "\n".join(lines)
    print(text)
    results = Path(__file__).resolve().parent / "results" / "http.md"
    with results.open("a") as out:
        out.write(text + "\n")


def ratios(rows) -> list[str]:
    by_name = dict(rows)
    out = []
    for name, r in rows:
        if name.startswith("POST"):
            clients = r["clients"]
            ceiling = by_name[f"same writes, raw SQL, {clients} threads (ceiling)"]
            out.append(f"- creates at {clients} clients: {r['per_second'] / ceiling['per_second']:.1%} of the ceiling")
        if name.startswith("GET /api"):
            floor = by_name[f"GET /healthz, {r['clients']} clients (floor)"]
            out.append(
                f"- cached read at {r['clients']} clients: {r['per_second'] / floor['per_second']:.0%} of /healthz"
            )
    flash = next(r for name, r in rows if name.startswith("flash"))
    floor = by_name[f"GET /healthz, {flash['clients']} clients (floor)"]
    refused = flash["statuses"].get(409, 0)
    out.append(
        f"- flash sale: {flash['per_second']:.0f} attempts/s, {refused / flash['seconds']:.0f} refusals/s ({refused} refused), "
        f"{flash['per_second'] / floor['per_second']:.0%} of /healthz at {flash['clients']} clients"
    )
    return out


if __name__ == "__main__":
    main()
