"""Report figures computed straight from the order tables, and report reads for the dashboard.

Every money figure is a SQL ``SUM`` of ``DECIMAL`` columns (exact); periods are half-open
``[start, end)`` in Asia/Shanghai, so a figure equals what anyone gets by adding up the
orders of that local day or week. Durations are whole seconds; percentiles are nearest-rank.
"""

import math
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Count, Max, QuerySet, Sum
from django.utils import timezone

from apps.orders.models import Order, OrderLine, OrderReport

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def period_bounds(period: str, day: date) -> tuple[date, date]:
    """First and last calendar day of the day or ISO week containing ``day``."""
    if period == OrderReport.Period.WEEK:
        first = day - timedelta(days=day.weekday())
        return first, first + timedelta(days=6)
    return day, day


def money(value: Decimal | None) -> Decimal:
    return (value or ZERO).quantize(CENT)


def nearest_rank(sorted_values: list[int], percent: int) -> int:
    """The nearest-rank percentile: the smallest value with at least ``percent``% at or below it."""
    rank = max(1, math.ceil(percent * len(sorted_values) / 100))
    return sorted_values[rank - 1]


def report_figures(*, first: date, last: date) -> dict:
    """All figures of the calendar days ``first``..``last`` (inclusive) as ``OrderReport`` fields."""
    start, end = local_midnight(first), local_midnight(last + timedelta(days=1))
    created = Order.objects.filter(created_at__gte=start, created_at__lt=end)
    paid = Order.objects.filter(paid_at__gte=start, paid_at__lt=end)

    totals = paid.aggregate(
        count=Count("id"), gmv=Sum("payable_amount"), paid=Sum("paid_amount"), refunded=Sum("refunded_amount")
    )
    paid_count = totals["count"]
    gmv = money(totals["gmv"])
    figures = {
        "orders_count": created.count(),
        "paid_orders_count": paid_count,
        "gmv": gmv,
        "paid_amount": money(totals["paid"]),
        "refunded_amount": money(totals["refunded"]),
        "average_order_value": (gmv / paid_count).quantize(CENT, rounding=ROUND_HALF_UP) if paid_count else ZERO,
        "by_status": dict(sorted(created.values_list("status").annotate(n=Count("id")).values_list("status", "n"))),
    }
    figures.update(_by_shop(created, paid))
    figures.update(_top_skus(paid))
    figures.update(_shipping(start, end))
    return figures


def _by_shop(created: QuerySet[Order], paid: QuerySet[Order]) -> dict:
    rows: dict[tuple, dict] = defaultdict(
        lambda: {"orders": 0, "paid_orders": 0, "gmv": ZERO, "paid_amount": ZERO, "refunded_amount": ZERO}
    )
    keys = ("shop_id", "shop__code", "shop__name", "platform")
    for row in created.values(*keys).annotate(n=Count("id")):
        rows[tuple(row[k] for k in keys)]["orders"] = row["n"]
    for row in paid.values(*keys).annotate(
        n=Count("id"), gmv=Sum("payable_amount"), paid=Sum("paid_amount"), refunded=Sum("refunded_amount")
    ):
        target = rows[tuple(row[k] for k in keys)]
        target.update(
            paid_orders=row["n"],
            gmv=money(row["gmv"]),
            paid_amount=money(row["paid"]),
            refunded_amount=money(row["refunded"]),
        )
    by_shop = [
        {"shop_id": key[0], "shop_code": key[1] or "", "shop_name": key[2] or "", "platform": key[3], **figures}
        for key, figures in rows.items()
    ]
    by_shop.sort(key=lambda r: (-r["gmv"], r["shop_code"], r["platform"]))

    platforms: dict[str, dict] = {}
    for row in by_shop:
        target = platforms.setdefault(
            row["platform"],
            {
                "platform": row["platform"],
                "orders": 0,
                "paid_orders": 0,
                "gmv": ZERO,
                "paid_amount": ZERO,
                "refunded_amount": ZERO,
            },
        )
        for name in ("orders", "paid_orders", "gmv", "paid_amount", "refunded_amount"):
            target[name] += row[name]
    by_platform = sorted(platforms.values(), key=lambda r: (-r["gmv"], r["platform"]))
    return {"by_shop": _jsonable(by_shop), "by_platform": _jsonable(by_platform)}


def _top_skus(paid: QuerySet[Order]) -> dict:
    rows = list(
        OrderLine.objects.filter(order__in=paid)
        .values("sku_code")
        .annotate(name=Max("name"), quantity=Sum("quantity"), amount=Sum("line_total"))
        .order_by("sku_code")
    )
    for row in rows:
        row["amount"] = money(row["amount"])
    limit = settings.REPORT_TOP_SKUS
    by_quantity = sorted(rows, key=lambda r: (-r["quantity"], r["sku_code"]))[:limit]
    by_amount = sorted(rows, key=lambda r: (-r["amount"], r["sku_code"]))[:limit]
    return {"top_skus_by_quantity": _jsonable(by_quantity), "top_skus_by_amount": _jsonable(by_amount)}


def _shipping(start: datetime, end: datetime) -> dict:
    pairs = Order.objects.filter(shipped_at__gte=start, shipped_at__lt=end, paid_at__isnull=False).values_list(
        "paid_at", "shipped_at"
    )
    seconds = sorted(max(0, int((shipped - paid_at).total_seconds())) for paid_at, shipped in pairs)
    if not seconds:
        return {"shipped_count": 0, "ship_seconds_avg": None, "ship_seconds_p50": None, "ship_seconds_p90": None}
    average = (Decimal(sum(seconds)) / len(seconds)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return {
        "shipped_count": len(seconds),
        "ship_seconds_avg": int(average),
        "ship_seconds_p50": nearest_rank(seconds, 50),
        "ship_seconds_p90": nearest_rank(seconds, 90),
    }


def _jsonable(rows: list[dict]) -> list[dict]:
    """Money as strings ("12.50"), as everywhere in our JSON."""
    return [{k: str(v) if isinstance(v, Decimal) else v for k, v in row.items()} for row in rows]


def report_list(*, period: str, first: date, last: date) -> QuerySet[OrderReport]:
    """Reports of one kind whose period starts within ``first``..``last``, oldest first."""
    return OrderReport.objects.filter(period=period, start__gte=first, start__lte=last).order_by("start")


CSV_COLUMNS = (
    "section",
    "period",
    "start",
    "end",
    "orders_count",
    "paid_orders_count",
    "gmv",
    "paid_amount",
    "refunded_amount",
    "average_order_value",
    "shipped_count",
    "ship_seconds_avg",
    "ship_seconds_p50",
    "ship_seconds_p90",
    "shop_code",
    "shop_name",
    "platform",
    "status",
    "sku_code",
    "sku_name",
    "quantity",
    "amount",
)
TOTAL_FIELDS = CSV_COLUMNS[4:14]


def report_csv_rows(reports: QuerySet[OrderReport]):
    """The header, then per report the sections of the dashboard, one row each, told apart
    by the first column: ``total`` (the report's figures), ``shop`` and ``platform`` (orders
    created; paid orders and money of orders paid), ``status`` (orders created, by their
    status now, in ``orders_count``), ``top_sku_by_quantity`` and ``top_sku_by_amount``."""
    yield list(CSV_COLUMNS)
    for report in reports:
        head = {"period": report.period, "start": report.start, "end": report.end}
        yield _csv_row("total", head, {name: getattr(report, name) for name in TOTAL_FIELDS})
        for shop in report.by_shop:
            yield _csv_row("shop", head, _money_cells(shop), shop_code=shop["shop_code"], shop_name=shop["shop_name"])
        for platform in report.by_platform:
            yield _csv_row("platform", head, _money_cells(platform))
        for status, count in report.by_status.items():
            yield _csv_row("status", head, {"orders_count": count}, status=status)
        for section, skus in (
            ("top_sku_by_quantity", report.top_skus_by_quantity),
            ("top_sku_by_amount", report.top_skus_by_amount),
        ):
            for sku in skus:
                yield _csv_row(
                    section,
                    head,
                    {"quantity": sku["quantity"], "amount": sku["amount"]},
                    sku_code=sku["sku_code"],
                    sku_name=sku["name"] or "",
                )


def _money_cells(row: dict) -> dict:
    return {
        "orders_count": row["orders"],
        "paid_orders_count": row["paid_orders"],
        "gmv": row["gmv"],
        "paid_amount": row["paid_amount"],
        "refunded_amount": row["refunded_amount"],
        "platform": row["platform"],
    }


def _csv_row(section: str, head: dict, cells: dict, **more) -> list[str]:
    values = {"section": section, **head, **cells, **more}
    return [_cell(values.get(name)) for name in CSV_COLUMNS]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def ship_hours(seconds: int | None) -> Decimal | None:
    return (Decimal(seconds) / 3600).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP) if seconds is not None else None
