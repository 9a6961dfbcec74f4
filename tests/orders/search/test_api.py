"""GET /api/v1/orders/search: filters, paging, shop scoping, masking, errors."""

import base64
import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission

from apps.orders.models import OrderStatus
from tests.conftest import SignedClient
from tests.orders.search.factories import OrderFactory, ShopFactory, add_line, set_created_at

pytestmark = pytest.mark.django_db
URL = "/api/v1/orders/search"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def shops():
    return ShopFactory(), ShopFactory()


@pytest.fixture
def staff_without_personal_data(django_user_model):
    from rest_framework.test import APIClient

    user = django_user_model.objects.create_user("agent", password="x", is_staff=True)
    client = APIClient()
    client.force_login(user)
    return client, user


def test_staff_search_spans_shops_and_lines_come_from_the_database(staff_client, shops):
    mine, theirs = OrderFactory(shop=shops[0], buyer_id="amy"), OrderFactory(shop=shops[1], buyer_id="amy")
    add_line(mine, name="白茶 饼", quantity=3, unit_price="55.50")
    response = staff_client.get(URL, {"buyer_id": "amy"})
    assert response.status_code == 200
    body = response.json()
    assert [item["order_no"] for item in body["results"]] == [theirs.order_no, mine.order_no]
    assert body["total"] == 2
    assert body["backend"] == "database"
    assert body["results"][1]["lines"] == [
        {"sku_code": mine.lines.get().sku_code, "name": "白茶 饼", "quantity": 3, "line_total": "166.50"}
    ]
    assert body["results"][1]["shop"] == shops[0].code


def test_shop_client_sees_only_its_own_shop_and_another_shop_is_not_found(shops):
    own = OrderFactory(shop=shops[0], buyer_id="ben")
    OrderFactory(shop=shops[1], buyer_id="ben")
    client = SignedClient(shops[0], "s3cret")

    response = client.get(f"{URL}?buyer_id=ben")
    assert response.status_code == 200
    assert [item["order_no"] for item in response.json()["results"]] == [own.order_no]
    # The shop sees its own buyers' phone numbers unmasked.
    assert response.json()["results"][0]["recipient"]["phone"] == own.recipient_phone
    assert client.get(f"{URL}?buyer_id=ben&shop_id={shops[0].id}").json()["results"][0]["order_no"] == own.order_no

    other = client.get(f"{URL}?buyer_id=ben&shop_id={shops[1].id}")
    assert other.status_code == 404
    assert other.json()["code"] == "shop_not_found"


def test_personal_data_masked_without_the_permission(staff_without_personal_data):
    client, user = staff_without_personal_data
    order = OrderFactory(recipient_phone="13912345678", address="文三路 100 号")
    item = client.get(URL, {"phone": "13912345678"}).json()["results"][0]
    assert item["order_no"] == order.order_no
    assert item["recipient"]["phone"] == "139****5678"
    assert item["recipient"]["address"] == "文三****"

    user.user_permissions.add(Permission.objects.get(codename="view_personal_data"))
    client.force_login(type(user).objects.get(pk=user.pk))
    item = client.get(URL, {"phone": "13912345678"}).json()["results"][0]
    assert item["recipient"]["phone"] == "13912345678"


def test_status_list_date_day_and_cursor_paging(staff_client):
    day = datetime(2025, 6, 18, tzinfo=SHANGHAI)
    inside = []
    for hour in (0, 9, 23):
        order = OrderFactory(status=OrderStatus.PAID)
        inside.append(set_created_at(order, day + timedelta(hours=hour, minutes=59)))
    set_created_at(OrderFactory(status=OrderStatus.PAID), day + timedelta(days=1))  # the next day
    set_created_at(OrderFactory(status=OrderStatus.CANCELLED), day + timedelta(hours=1))
    params = {"status": "paid,shipped", "created_after": "2025-06-18", "created_before": "2025-06-18", "page_size": 2}

    first = staff_client.get(URL, params).json()
    assert first["total"] == 3
    assert first["previous"] is None
    assert [item["order_no"] for item in first["results"]] == [inside[2].order_no, inside[1].order_no]
    # ``next`` is the next page's address, filters included, as in the order list.
    second = staff_client.get(first["next"]).json()
    assert [item["order_no"] for item in second["results"]] == [inside[0].order_no]
    assert second["next"] is None


def test_free_text_and_product_name(staff_client):
    tea = OrderFactory()
    add_line(tea, name="安吉白茶 礼盒")
    add_line(OrderFactory(), name="紫砂壶")
    assert [i["order_no"] for i in staff_client.get(URL, {"q": "白茶"}).json()["results"]] == [tea.order_no]
    assert [i["order_no"] for i in staff_client.get(URL, {"product_name": "礼盒"}).json()["results"]] == [tea.order_no]


def _cursor(key: list) -> str:
    raw = json.dumps({"b": "database", "k": key}).encode()
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"status": "lost"}, "validation_error"),
        ({"sort": "phone"}, "validation_error"),
        ({"sort": ""}, "validation_error"),
        ({"page_size": 0}, "validation_error"),
        ({"created_after": "yesterday"}, "validation_error"),
        ({"created_before": ""}, "validation_error"),
        ({"buyer_id": " "}, "validation_error"),
        ({"status": ""}, "validation_error"),
        ({"created_from": "2025-06-18"}, "validation_error"),
        ({"size": 2}, "validation_error"),
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"created_before": "9999-12-31"}, "validation_error"),
        ({"created_after": "0001-01-01T00:00:00+14:00"}, "validation_error"),
        ({"created_before": "9999-12-31T23:59:59-12:00"}, "validation_error"),
        ({"sort": "payable_amount", "cursor": _cursor(["NaN", 1])}, "invalid_cursor"),
        ({"sort": "payable_amount", "cursor": _cursor(["1e30", 1])}, "invalid_cursor"),
        ({"cursor": _cursor(["0001-01-01T00:00:00+14:00", 1])}, "invalid_cursor"),
        ({"cursor": _cursor(["2025-03-01T10:00:00", 1])}, "invalid_cursor"),
    ],
)
def test_bad_input_is_a_400_with_a_code(staff_client, params, code):
    response = staff_client.get(URL, params)
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_anonymous_and_non_staff_users_are_refused(api_client, django_user_model):
    assert api_client.get(URL).status_code in (401, 403)
    user = django_user_model.objects.create_user("buyer", password="x")
    api_client.force_login(user)
    assert api_client.get(URL).status_code == 403


def test_elasticsearch_answers_order_numbers_and_details_come_from_the_database(staff_client, fake_es_server):
    first, second = OrderFactory(), OrderFactory()
    fake_es_server.search_total = 2
    fake_es_server.search_hits = [
        {"_index": "test-orders-v1", "_id": no, "_score": None, "sort": [0, no]}
        for no in (first.order_no, "20990101000000000000", second.order_no)  # one since deleted
    ]
    body = staff_client.get(URL, {"q": "x"}).json()
    assert body["backend"] == "elasticsearch"
    assert [item["order_no"] for item in body["results"]] == [first.order_no, second.order_no]
    assert body["results"][0]["payable_amount"] == "100.00"


def test_a_page_size_above_the_maximum_is_served_at_the_maximum_as_lists_do(staff_client, monkeypatch):
    from apps.core.api.pagination import CursorPagination
    from apps.orders.api import search_views

    monkeypatch.setattr(search_views, "MAX_PAGE_SIZE", 2)
    monkeypatch.setattr(CursorPagination, "max_page_size", 2)
    for _ in range(3):
        OrderFactory()
    searched = staff_client.get(URL, {"page_size": 5000}).json()
    listed = staff_client.get("/api/v1/orders", {"page_size": 5000}).json()
    assert (len(searched["results"]), len(listed["results"])) == (2, 2)
    assert searched["next"] is not None
    assert listed["next"] is not None
