"""The database backend for real on MariaDB: each filter, combinations, cursor paging."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from apps.core.exceptions import ApplicationError
from apps.orders.models import OrderStatus
from apps.orders.search import OrderQuery, admin_search_order_ids, get_backend
from apps.orders.search.database import DatabaseBackend
from tests.orders.search.factories import (
    OrderFactory,
    ShopFactory,
    SkuFactory,
    WarehouseFactory,
    add_fulfillment,
    add_line,
    set_created_at,
)

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def search(**filters) -> list[str]:
    return DatabaseBackend().search(OrderQuery(**filters)).order_nos


@pytest.fixture
def orders():
    """Three orders in two shops with distinct buyers, phones, SKUs, products and warehouses."""
    tmall, jd = ShopFactory(), ShopFactory(platform="jd")
    east, west = WarehouseFactory(), WarehouseFactory()
    tea, cup = SkuFactory(code="TEA-001"), SkuFactory(code="CUP-002")
    a = OrderFactory(shop=tmall, buyer_id="alice", recipient_phone="13800000001", platform_order_id="TB-1")
    add_line(a, sku=tea, name="西湖龙井 明前特级 250g")
    add_fulfillment(a, warehouse=east)
    b = OrderFactory(shop=tmall, buyer_id="bob", recipient_phone="13800000002", status=OrderStatus.PAID)
    add_line(b, sku=cup, name="青瓷茶杯 两只装")
    add_fulfillment(b, warehouse=west, status="cancelled")
    c = OrderFactory(shop=jd, buyer_id="alice", recipient_phone="13800000003", status=OrderStatus.SHIPPED)
    add_line(c, sku=tea, name="西湖龙井 明前特级 250g")
    add_line(c, sku=cup, name="青瓷茶杯 两只装")
    add_fulfillment(c, warehouse=west)
    base = datetime(2025, 3, 1, 10, tzinfo=SHANGHAI)
    for offset, order in enumerate((a, b, c)):
        set_created_at(order, base + timedelta(days=offset))
    return {"a": a, "b": b, "c": c, "tmall": tmall, "jd": jd, "east": east, "west": west}


def test_default_backend_is_the_database():
    assert isinstance(get_backend(), DatabaseBackend)


def test_each_exact_filter(orders):
    a, b, c = orders["a"], orders["b"], orders["c"]
    assert search(order_no=b.order_no) == [b.order_no]
    assert search(platform_order_id="TB-1") == [a.order_no]
    assert search(phone="13800000003") == [c.order_no]
    assert search(buyer_id="alice") == [c.order_no, a.order_no]


def test_status_shop_and_sku_filters(orders):
    a, b, c = orders["a"], orders["b"], orders["c"]
    assert search(statuses=("paid", "shipped")) == [c.order_no, b.order_no]
    assert search(shop_id=orders["tmall"].id) == [b.order_no, a.order_no]
    assert search(sku_code="TEA-001") == [c.order_no, a.order_no]


def test_warehouse_filter_ignores_cancelled_fulfillments(orders):
    assert search(warehouse_id=orders["east"].id) == [orders["a"].order_no]
    # b's only fulfillment from the west warehouse was cancelled.
    assert search(warehouse_id=orders["west"].id) == [orders["c"].order_no]


def test_created_range_is_half_open(orders):
    start = datetime(2025, 3, 2, 0, tzinfo=SHANGHAI)
    assert search(created_from=start, created_to=start + timedelta(days=1)) == [orders["b"].order_no]
    assert search(created_to=orders["b"].created_at) == [orders["a"].order_no]


def test_product_name_contains(orders):
    assert search(product_name="茶杯") == [orders["c"].order_no, orders["b"].order_no]
    assert search(product_name="龙井 明前") == [orders["c"].order_no, orders["a"].order_no]
    assert search(product_name="普洱") == []


def test_filters_combine_with_and(orders):
    assert search(buyer_id="alice", shop_id=orders["tmall"].id) == [orders["a"].order_no]
    assert search(sku_code="CUP-002", statuses=("paid",)) == [orders["b"].order_no]
    assert search(sku_code="CUP-002", warehouse_id=orders["east"].id) == []


def test_free_text_matches_numbers_codes_and_product_words(orders):
    a, b, c = orders["a"], orders["b"], orders["c"]
    assert search(q=a.order_no) == [a.order_no]
    assert search(q="TB-1") == [a.order_no]
    assert search(q="13800000002") == [b.order_no]
    assert search(q="alice") == [c.order_no, a.order_no]
    assert search(q="CUP-002") == [c.order_no, b.order_no]
    assert search(q="龙井") == [c.order_no, a.order_no]
    assert search(q="龙井", shop_id=orders["jd"].id) == [c.order_no]


def test_sort_by_amount_ascending_and_total():
    amounts = ["30.00", "10.00", "20.00", "10.00"]
    made = [OrderFactory(payable_amount=Decimal(amount)) for amount in amounts]
    result = DatabaseBackend().search(OrderQuery(sort="payable_amount", size=10))
    # Equal amounts keep creation (id) order.
    assert result.order_nos == [made[1].order_no, made[3].order_no, made[2].order_no, made[0].order_no]
    assert result.total == 4
    assert result.next_cursor is None


def test_cursor_pages_through_everything_once_even_with_new_orders():
    made = [OrderFactory() for _ in range(7)]
    base = datetime(2025, 5, 1, tzinfo=SHANGHAI)
    for offset, order in enumerate(made):
        # Two orders share each timestamp: the id breaks the tie.
        set_created_at(order, base + timedelta(minutes=offset // 2))
    newest_first = [order.order_no for order in sorted(made, key=lambda o: (o.created_at, o.id), reverse=True)]

    backend = DatabaseBackend()
    first = backend.search(OrderQuery(size=3))
    assert first.order_nos == newest_first[:3]
    assert first.total == 7
    set_created_at(OrderFactory(), base + timedelta(days=1))  # arrives while someone pages
    second = backend.search(OrderQuery(size=3, cursor=first.next_cursor))
    third = backend.search(OrderQuery(size=3, cursor=second.next_cursor))
    assert second.order_nos == newest_first[3:6]
    assert third.order_nos == newest_first[6:]
    assert third.next_cursor is None


@pytest.mark.parametrize("cursor", ["garbage", "eyJiIjoiZWxhc3RpY3NlYXJjaCIsImsiOlsxLCJ4Il19"])
def test_bad_or_foreign_cursor_is_refused(cursor):
    with pytest.raises(ApplicationError) as exc:
        DatabaseBackend().search(OrderQuery(cursor=cursor))
    assert exc.value.code == "invalid_cursor"


def test_bad_sort_and_size_are_refused():
    with pytest.raises(ApplicationError) as exc:
        OrderQuery(sort="recipient_phone")
    assert exc.value.code == "invalid_sort"
    with pytest.raises(ApplicationError) as exc:
        OrderQuery(size=500)
    assert exc.value.code == "invalid_size"


def test_admin_search_returns_order_ids_newest_first(orders):
    assert admin_search_order_ids("alice") == ([orders["c"].id, orders["a"].id], 2)
    assert admin_search_order_ids("   ") == ([], 0)


def test_admin_mixin_filters_the_changelist_through_the_backend(orders, rf):
    from django.contrib import admin

    from apps.orders.models import Order
    from apps.orders.search import SearchBackendAdminMixin

    class SearchedOrderAdmin(SearchBackendAdminMixin, admin.ModelAdmin):
        pass

    model_admin = SearchedOrderAdmin(Order, admin.site)
    queryset, may_have_duplicates = model_admin.get_search_results(rf.get("/"), Order.objects.all(), "龙井")
    assert sorted(queryset.values_list("order_no", flat=True)) == sorted([orders["a"].order_no, orders["c"].order_no])
    assert may_have_duplicates is False
    everything, _ = model_admin.get_search_results(rf.get("/"), Order.objects.all(), "")
    assert everything.count() == 3
