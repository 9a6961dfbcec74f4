"""Fill the order table with generated orders, to check the hot queries at scale.

    manage.py orders_generate --count 10000000
    manage.py explain_hot_queries

The rows are written by the database itself (``INSERT ... SELECT`` over MariaDB's sequence
engine, or a cross join of digits elsewhere), a chunk per statement: 10 million orders take
minutes, not hours. Generated order numbers start with 9 (real ones start with the year), so
they never collide with real orders. No lines, payments or stock: the rows are for query
plans, not for business flows. Never run it on a production database.
"""

import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from apps.orders.models import Order

# Share of each status, in percent: most orders are long finished.
STATUS_SHARES = [
    ("pending_payment", 1),
    ("paid", 3),
    ("on_hold", 1),
    ("pending_shipment", 5),
    ("shipped", 4),
    ("delivering", 4),
    ("delivered", 4),
    ("completed", 58),
    ("cancelled", 10),
    ("payment_timeout", 6),
    ("refunding", 1),
    ("refunded", 3),
]
PAID = (
    "paid",
    "on_hold",
    "pending_shipment",
    "shipped",
    "delivering",
    "delivered",
    "completed",
    "refunding",
    "refunded",
)
SHIPPED = ("shipped", "delivering", "delivered", "completed")
DELIVERED = ("delivered", "completed")


def _status_case() -> str:
    parts, upper = [], 0
    for status, share in STATUS_SHARES:
        upper += share
        parts.append(f"WHEN CRC32(n) % 100 < {upper} THEN '{status}'")
    return "CASE " + " ".join(parts) + " END"


def _in(statuses: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{status}'" for status in statuses) + ")"


class Command(BaseCommand):
    help = "Generate orders in bulk (for EXPLAIN checks at scale; never in production)."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, required=True)
        parser.add_argument("--shops", type=int, default=20, help="spread over this many shops (created if missing)")
        parser.add_argument("--days", type=int, default=180, help="created times spread over this many days")
        parser.add_argument("--chunk", type=int, default=500_000, help="rows per INSERT statement")

    def handle(self, *args, count, shops, days, chunk, **options):
        if connection.vendor != "mysql":
            raise CommandError("orders_generate needs MySQL, MariaDB or TiDB.")
        if count <= 0 or shops <= 0 or days <= 0 or chunk <= 0:
            raise CommandError("--count, --shops, --days and --chunk must be positive.")
        shop_ids = self._shops(shops)
        table = Order._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT COALESCE(MAX(CAST(SUBSTRING(order_no, 2) AS UNSIGNED)), 0) FROM {table}"  # noqa: S608
                " WHERE order_no LIKE '9%'"
            )
            first = cursor.fetchone()[0] + 1
        span_us = days * 86_400 * 1_000_000
        start = timezone.now().replace(tzinfo=None) - timedelta(days=days)
        started = time.monotonic()
        done = 0
        while done < count:
            size = min(chunk, count - done)
            self._insert(
                table, first=first + done, size=size, total=count, shop_ids=shop_ids, start=start, span=span_us
            )
            done += size
            self.stdout.write(f"{done} orders ({time.monotonic() - started:.0f} s)")
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE TABLE {table}")
            cursor.fetchall()
        self.stdout.write(f"Generated {count} orders in {time.monotonic() - started:.0f} s.")

    def _shops(self, wanted: int) -> list[int]:
        shop_model = Order._meta.get_field("shop").related_model
        ids = list(shop_model.objects.order_by("id").values_list("id", flat=True)[:wanted])
        for n in range(len(ids), wanted):
            shop, _created = shop_model.objects.get_or_create(
                code=f"gen-shop-{n}",
                defaults={"name": f"Generated shop {n}", "platform": "tmall", "app_key": f"gen-{n}"},
            )
            ids.append(shop.pk)
        return ids

    def _insert(self, table: str, *, first: int, size: int, total: int, shop_ids, start, span: int) -> None:
        if connection.mysql_is_mariadb:
            numbers = f"(SELECT seq AS n FROM seq_0_to_{size - 1}) AS g"  # noqa: S608 - integers only
        else:
            digits = "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4"
            digits += " UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)"
            places = max(1, len(str(size - 1)))
            terms = " + ".join(f"d{i}.d * {10**i}" for i in range(places))
            joins = " CROSS JOIN ".join(f"{digits} d{i}" for i in range(places))
            numbers = f"(SELECT {terms} AS n FROM {joins} HAVING n < {size}) AS g"  # noqa: S608 - integers only
        shops = ", ".join(str(pk) for pk in shop_ids)
        status = _status_case()
        # Created times grow with the number, as real ones grow with the id.
        created = (
            f"TIMESTAMPADD(MICROSECOND, ({first} + n) * {span // max(total, 1)} % {span}, '{start:%Y-%m-%d %H:%M:%S}')"
        )
        # Every value below is an integer, a time or a constant of this module: no input.
        sql = f"""
            INSERT INTO {table} (
                order_no, platform, platform_order_id, buyer_id, status, total_amount, discount_amount,
                shipping_fee, payable_amount, paid_amount, refunded_amount, payment_method, paid_at,
                payment_deadline, recipient_name, recipient_phone, province, city, district, address,
                buyer_message, seller_remark, hold_reasons, cancel_reason, created_at, updated_at,
                audited_at, shipped_at, delivered_at, completed_at, closed_at, version, shop_id
            )
            SELECT
                CONCAT('9', LPAD({first} + s.n, 19, '0')), 'tmall', CONCAT('G', {first} + s.n),
                CONCAT('gen-buyer-', ({first} + s.n) % {max(total // 3, 1)}), s.status,
                99.00, 0, 0, 99.00, IF(s.status IN {_in(PAID)}, 99.00, 0),
                IF(s.status = 'refunded', 99.00, 0), IF(s.status IN {_in(PAID)}, 'alipay', ''),
                IF(s.status IN {_in(PAID)}, s.created + INTERVAL 1 MINUTE, NULL),
                IF(s.status = 'pending_payment', s.created + INTERVAL 15 MINUTE, NULL),
                '收件人', CONCAT('139', LPAD(({first} + s.n) % 100000000, 8, '0')), '上海', '上海', '浦东新区',
                '世纪大道 100 号', '', '', '[]', '', s.created, s.created + INTERVAL 3 DAY,
                IF(s.status IN {_in(PAID)}, s.created + INTERVAL 2 MINUTE, NULL),
                IF(s.status IN {_in(SHIPPED)}, s.created + INTERVAL 1 DAY, NULL),
                IF(s.status IN {_in(DELIVERED)}, s.created + INTERVAL 3 DAY, NULL),
                IF(s.status = 'completed', s.created + INTERVAL 10 DAY, NULL),
                NULL, 1, ELT(1 + ({first} + s.n) % {len(shop_ids)}, {shops})
            FROM (SELECT g.n AS n, {status} AS status, {created} AS created FROM {numbers}) AS s
        """  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql)
