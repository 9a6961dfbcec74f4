"""The default backend: plain SQL on the order tables, using their indexes.

Exact look-ups (order number, phone, buyer, SKU code) hit an index each; the free-text box
collects the ids of exact matches first so MariaDB never has to OR across columns, and only
"product name contains" scans order lines. Paging is keyset on (sort field, id).
"""

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.core.api.dates import is_storable
from apps.core.replicas import replica_reads
from apps.orders.models import FulfillmentLine, FulfillmentStatus, Order, OrderLine
from apps.orders.search.base import (
    OrderQuery,
    SearchBackend,
    SearchResult,
    decode_cursor,
    encode_cursor,
    invalid_cursor,
)
from apps.orders.services.archive import archived_order_nos, orders_restore

# The largest amount the amount columns hold (12 digits, 2 of them decimals).
MAX_AMOUNT = Decimal("9999999999.99")


class DatabaseBackend(SearchBackend):
    name = "database"

    def search(self, query: OrderQuery) -> SearchResult:
        result = self._search(query)
        if result.total == 0 and not query.cursor:
            # Archived orders answer exact look-ups: they come back to the hot tables.
            exact = {
                "order_no": query.order_no,
                "platform_order_id": query.platform_order_id,
                "phone": query.phone,
                "buyer_id": query.buyer_id,
            }
            if any(exact.values()):
                archived = archived_order_nos(**exact)
            else:
                term = query.q.strip()
                archived = [no for key in exact if term for no in archived_order_nos(**{key: term})]
            if archived and orders_restore(order_nos=archived, actor="system:search"):
                result = self._search(query)
        return result

    @replica_reads()
    def _search(self, query: OrderQuery) -> SearchResult:
        queryset = self.filtered(query)
        total = queryset.count()
        field = query.sort_field
        if query.cursor:
            value, last_id = decode_cursor(self.name, query.cursor)
            if not isinstance(last_id, int):
                raise invalid_cursor()
            queryset = queryset.filter(self._after(field, self._parse(field, value), last_id, query.descending))
        direction = "-" if query.descending else ""
        rows = list(
            queryset.order_by(f"{direction}{field}", f"{direction}id").values_list("id", "order_no", field)[
                : query.size + 1
            ]
        )
        next_cursor = None
        if len(rows) > query.size:
            rows = rows[: query.size]
            last_id, _order_no, last_value = rows[-1]
            next_cursor = encode_cursor(self.name, [self._dump(last_value), last_id])
        return SearchResult(order_nos=[row[1] for row in rows], next_cursor=next_cursor, total=total, backend=self.name)

    def filtered(self, query: OrderQuery) -> QuerySet[Order]:
        """The orders matching every filter of ``query`` (unordered, unpaged)."""
        queryset = Order.objects.all()
        if query.q:
            queryset = queryset.filter(self._free_text(query.q.strip()))
        exact = {
            "order_no": query.order_no,
            "platform_order_id": query.platform_order_id,
            "recipient_phone": query.phone,
            "buyer_id": query.buyer_id,
        }
        queryset = queryset.filter(**{name: value for name, value in exact.items() if value})
        if query.statuses:
            queryset = queryset.filter(status__in=query.statuses)
        if query.shop_id is not None:
            queryset = queryset.filter(shop_id=query.shop_id)
        if query.created_from is not None:
            queryset = queryset.filter(created_at__gte=query.created_from)
        if query.created_to is not None:
            queryset = queryset.filter(created_at__lt=query.created_to)
        if query.warehouse_id is not None:
            shipped_from = (
                FulfillmentLine.objects.filter(fulfillment__warehouse_id=query.warehouse_id)
                .exclude(fulfillment__status=FulfillmentStatus.CANCELLED)
                .values("order_line__order_id")
            )
            queryset = queryset.filter(pk__in=shipped_from)
        if query.sku_code:
            queryset = queryset.filter(pk__in=OrderLine.objects.filter(sku_code=query.sku_code).values("order_id"))
        if query.product_name:
            queryset = queryset.filter(
                pk__in=OrderLine.objects.filter(name__icontains=query.product_name).values("order_id")
            )
        return queryset

    def _free_text(self, term: str) -> Q:
        ids: set[int] = set()
        for lookup in ("order_no", "platform_order_id", "recipient_phone", "buyer_id"):
            ids.update(Order.objects.filter(**{lookup: term}).values_list("id", flat=True))
        ids.update(OrderLine.objects.filter(sku_code=term).values_list("order_id", flat=True))
        return Q(pk__in=ids) | Q(pk__in=OrderLine.objects.filter(name__icontains=term).values("order_id"))

    @staticmethod
    def _after(field: str, value, last_id: int, descending: bool) -> Q:
        if descending:
            return Q(**{f"{field}__lt": value}) | Q(**{field: value, "id__lt": last_id})
        return Q(**{f"{field}__gt": value}) | Q(**{field: value, "id__gt": last_id})

    @staticmethod
    def _dump(value) -> str:
        return value.isoformat() if isinstance(value, datetime) else str(value)

    @staticmethod
    def _parse(field: str, value: str):
        """The sort value a cursor carries: an amount the column can hold, or an aware
        time that converts to UTC; anything else is ``invalid_cursor``."""
        try:
            if field == "payable_amount":
                amount = Decimal(value)
                if not amount.is_finite() or abs(amount) > MAX_AMOUNT:
                    raise ValueError(value)
                return amount
            moment = datetime.fromisoformat(value)
            if timezone.is_naive(moment) or not is_storable(moment):
                raise ValueError(value)
            return moment
        except (InvalidOperation, ValueError, TypeError) as exc:
            raise invalid_cursor() from exc

    def index(self, order_nos: Iterable[str]) -> int:
        return 0

    def delete(self, order_nos: Iterable[str]) -> int:
        return 0

    def ping(self) -> None:
        connection.ensure_connection()
