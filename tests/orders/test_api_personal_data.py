"""Personal data through the API: staff without ``orders.view_personal_data`` get the recipient's
name, phone and address and the buyer id masked, as the admin shows them; staff holding it
and the order's own shop see them whole."""

import pytest

from apps.orders.services import order_update_remark
from tests.orders.factories import create_order

pytestmark = pytest.mark.django_db

# What factories.recipient() and create_order() store, and how the masking shows it.
WHOLE = {"name": "王小明", "phone": "13800138000", "address": "世纪大道100号", "buyer_id": "buyer-1"}
MASKED = {"name": "王****", "phone": "138****8000", "address": "世纪****", "buyer_id": "b****"}


def _detail(client, order) -> dict:
    body = client.get(f"/api/v1/orders/{order.order_no}").json()
    recipient = body["recipient"]
    return {
        "name": recipient["name"],
        "phone": recipient["phone"],
        "address": recipient["address"],
        "buyer_id": body["buyer_id"],
    }


def _searched(client, order) -> dict:
    (item,) = client.get(f"/api/v1/orders/search?order_no={order.order_no}").json()["results"]
    recipient = item["recipient"]
    return {
        "name": recipient["name"],
        "phone": recipient["phone"],
        "address": recipient["address"],
        "buyer_id": item["buyer_id"],
    }


def test_staff_without_the_permission_get_detail_and_search_masked(cs_client, sku):
    order = create_order((sku, 1))

    assert _detail(cs_client, order) == MASKED
    assert _searched(cs_client, order) == MASKED
    listed = cs_client.get("/api/v1/orders").json()["results"][0]
    assert (listed["recipient"]["name"], listed["buyer_id"]) == (MASKED["name"], MASKED["buyer_id"])


def test_staff_with_the_permission_see_everything(privileged_client, sku):
    order = create_order((sku, 1))

    assert _detail(privileged_client, order) == WHOLE
    assert _searched(privileged_client, order) == WHOLE


def test_a_shop_sees_its_own_orders_whole(signed, sku):
    order = create_order((sku, 1), shop=signed.shop)

    assert _detail(signed, order) == WHOLE
    assert _searched(signed, order) == WHOLE


def test_the_timeline_masks_what_a_remark_quotes(cs_client, privileged_client, sku):
    order = create_order((sku, 1))
    order_update_remark(order_no=order.order_no, remark="call 13800138000 at 世纪大道100号", actor="cs:amy")

    def remarks(client) -> str:
        return " ".join(entry["remark"] for entry in client.get(f"/api/v1/orders/{order.order_no}/history").json())

    masked = remarks(cs_client)
    assert "13800138000" not in masked and "世纪大道100号" not in masked
    assert "call 138****8000 at 世纪****" in masked
    assert "call 13800138000 at 世纪大道100号" in remarks(privileged_client)
