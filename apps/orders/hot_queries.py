"""The hot reads on the order table, and a check that MySQL/MariaDB runs each on its index.

Each query is built the way the code that runs it builds it (selectors, the database search
backend, the beat sweeps, the report figures), with values taken from a real row.
``manage.py explain_hot_queries`` prints the plans and fails when one reads the whole table
or an index it should not; ``manage.py orders_generate`` fills the table to try it at scale.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from apps.orders.models import Order, OrderStatus
from apps.orders.search.base import OrderQuery
from apps.orders.search.database import DatabaseBackend
from apps.orders.selectors import order_list


@dataclass(frozen=True)
class HotQuery:
    name: str
    queryset: QuerySet
    # The leading columns of an index this query may use (any one of them).
    indexes: tuple[tuple[str, ...], ...]
    # Ordered and LIMITed: walking an index in order and stopping early is fine.
    limited: bool = False


@dataclass
class PlanCheck:
    query: HotQuery
    plan: list[dict]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def hot_queries(sample: Order, *, now: datetime | None = None) -> list[HotQuery]:
    """The hot queries, with the values of ``sample`` (an order with a shop, paid and shipped)."""
    now = now or timezone.now()
    day_start = sample.created_at.replace(hour=0, minute=0, second=0, microsecond=0)
    day = (day_start, day_start + timedelta(days=1))
    paid_day = (sample.paid_at - timedelta(hours=12), sample.paid_at + timedelta(hours=12))
    shipped_day = (sample.shipped_at - timedelta(hours=12), sample.shipped_at + timedelta(hours=12))
    search = DatabaseBackend()

    def found(**filters) -> QuerySet:
        return search.filtered(OrderQuery(**filters)).order_by("-created_at", "-id")[:21]

    return [
        HotQuery("order by number", Order.objects.filter(order_no=sample.order_no), (("order_no",),)),
        HotQuery(
            "platform order of a shop",
            Order.objects.filter(shop_id=sample.shop_id, platform_order_id=sample.platform_order_id),
            (("shop_id", "platform_order_id"),),
        ),
        HotQuery("API list, staff", order_list().order_by("-id")[:51], (("id",),), limited=True),
        HotQuery(
            "API list, one shop", order_list(shop=sample.shop).order_by("-id")[:51], (("shop_id", "id"),), limited=True
        ),
        # One phone has a handful of orders: sorting them after the index look-up is cheap.
        HotQuery("search by phone", found(phone=sample.recipient_phone), (("recipient_phone",),)),
        HotQuery("search by buyer", found(buyer_id=sample.buyer_id), (("buyer_id",),), limited=True),
        HotQuery(
            "search: shop, status and created day",
            found(shop_id=sample.shop_id, statuses=(sample.status,), created_from=day[0], created_to=day[1]),
            (("shop_id", "status", "created_at"),),
            limited=True,
        ),
        HotQuery(
            "search: created day",
            found(created_from=day[0], created_to=day[1]),
            (("created_at",),),
            limited=True,
        ),
        HotQuery(
            "payment-timeout sweep",
            Order.objects.filter(status=OrderStatus.PENDING_PAYMENT, payment_deadline__lte=now, id__gt=0)
            .order_by("id")
            .values_list("id", flat=True)[:200],
            (("status", "payment_deadline"),),
        ),
        HotQuery(
            "auto-complete sweep",
            Order.objects.filter(status=OrderStatus.DELIVERED, delivered_at__lte=now - timedelta(days=7)).order_by(
                "delivered_at", "id"
            )[:500],
            (("status", "delivered_at"),),
            limited=True,
        ),
        HotQuery(
            "report: orders created on a day",
            Order.objects.filter(created_at__gte=day[0], created_at__lt=day[1]),
            (("created_at",),),
        ),
        HotQuery(
            "report: orders paid on a day",
            Order.objects.filter(paid_at__gte=paid_day[0], paid_at__lt=paid_day[1]),
            (("paid_at",),),
        ),
        HotQuery(
            "report: orders shipped on a day",
            Order.objects.filter(shipped_at__gte=shipped_day[0], shipped_at__lt=shipped_day[1], paid_at__isnull=False),
            (("shipped_at",),),
        ),
        HotQuery(
            "report job: orders changed in the last hour",
            Order.objects.filter(updated_at__gte=now - timedelta(hours=1)),
            (("updated_at",),),
        ),
    ]


def explain(queryset: QuerySet) -> list[dict]:
    """MySQL/MariaDB ``EXPLAIN`` of the queryset's SQL, one dict per plan row."""
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        columns = [column[0].lower() for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _index_columns(table: str) -> dict[str, tuple[str, ...]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {name: tuple(info["columns"]) for name, info in constraints.items() if info["index"] or info["primary_key"]}


def check_plan(query: HotQuery) -> PlanCheck:
    """Whether the order table is read through one of the query's indexes, without a full
    table scan, and (for ordered, limited queries) without sorting every match."""
    table = Order._meta.db_table
    indexes = _index_columns(table)
    plan = explain(query.queryset)
    check = PlanCheck(query, plan)
    for row in plan:
        if row.get("table") != table:
            continue
        key, access, extra = row.get("key"), (row.get("type") or "").upper(), row.get("extra") or ""
        if access == "ALL" or key is None:
            check.problems.append("full table scan")
            continue
        keys = key.split(",")  # an index merge names several
        if not any(indexes.get(name, ())[: len(wanted)] == wanted for name in keys for wanted in query.indexes):
            check.problems.append(f"uses {key}, not an index on {' or '.join(map(str, query.indexes))}")
        if access == "INDEX" and not query.limited:
            check.problems.append("reads the whole index")
        if query.limited and "filesort" in extra:
            check.problems.append("sorts every matching row")
    return check


def check_hot_queries(sample: Order | None = None) -> list[PlanCheck]:
    sample = sample or (
        Order.objects.filter(shop__isnull=False, paid_at__isnull=False, shipped_at__isnull=False)
        .order_by("-id")
        .first()
    )
    if sample is None:
        return []
    return [check_plan(query) for query in hot_queries(sample)]
