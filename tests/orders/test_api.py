from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.models import OutboxEvent
from apps.inventory.gate import gate_sync
from apps.inventory.models import Reservation, StockMovement
from apps.orders.models import Order, OrderLine
from apps.orders.selectors import order_detail_cached
from apps.orders.services import order_update_remark
from apps.orders.services.common import order_cache_key
from tests.orders.factories import RECIPIENT_BODY as RECIPIENT
from tests.orders.factories import ShopFactory, SkuFactory, create_order, receive, stock_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def sku(warehouse):
    """Listed at 30.00: the price the bodies below state (a storefront must state the OMS's)."""
    sku = SkuFactory(price=Decimal("30.00"))
    receive(sku, warehouse, 10)
    return sku


def _body(sku, quantity=2, **overrides):
    return {
        "buyer_id": "buyer-9",
        "lines": [{"sku_code": sku.code, "quantity": quantity, "unit_price": "30.00"}],
        "recipient": RECIPIENT,
        **overrides,
    }


def _counts():
    return (
        Order.objects.count(),
        OrderLine.objects.count(),
        Reservation.objects.count(),
        StockMovement.objects.count(),
        OutboxEvent.objects.count(),
    )


def test_a_shop_app_creates_an_order_that_belongs_to_its_shop(signed, shop, sku, warehouse):
    response = signed.post("/api/v1/orders", _body(sku))
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["status"] == "pending_payment"
    assert data["shop"] == shop.code
    assert data["payable_amount"] == "70.00"
    assert data["recipient"]["phone"] == "13912345678"  # its own order: unmasked
    assert [item["sku_code"] for item in data["lines"]] == [sku.code]
    assert Order.objects.get(order_no=data["order_no"]).shop_id == shop.pk
    assert stock_of(sku, warehouse).reserved == 2


def test_validation_errors_name_the_fields_and_leave_nothing(staff_client, sku):
    before = _counts()
    body = _body(sku, quantity=0, recipient={**RECIPIENT, "address": ""})
    body["lines"].append({"sku_code": "NOPE", "quantity": 1, "unit_price": "1.00"})
    response = staff_client.post("/api/v1/orders", body, format="json")
    assert response.status_code == 400
    data = response.json()
    assert data["code"] == "validation_error"
    assert "quantity" in data["details"]["lines"]["0"]
    assert "address" in data["details"]["recipient"]
    assert _counts() == before


def test_unknown_sku_codes_are_reported_per_line(staff_client, sku):
    body = _body(sku)
    body["lines"].append({"sku_code": "NOPE", "quantity": 1, "unit_price": "1.00"})
    response = staff_client.post("/api/v1/orders", body, format="json")
    assert response.status_code == 400
    assert list(response.json()["details"]["lines"]) == ["1"]


def test_a_discount_above_the_goods_total_is_400_and_leaves_nothing(staff_client, sku):
    before = _counts()
    body = _body(sku, quantity=1, discount_amount="150.00")
    body["lines"][0]["unit_price"] = "100.00"
    response = staff_client.post("/api/v1/orders", body, format="json")
    assert response.status_code == 400, response.json()
    data = response.json()
    assert data["code"] == "validation_error"
    assert data["message"]
    assert "discount_amount" in data["details"]
    assert _counts() == before


def test_insufficient_stock_is_409_naming_the_skus_and_leaves_nothing(staff_client, sku):
    before = _counts()
    response = staff_client.post("/api/v1/orders", _body(sku, quantity=11), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 409
    data = response.json()
    assert data["code"] == "insufficient_stock"
    assert [s["sku_code"] for s in data["details"]["shortages"]] == [sku.code]
    assert _counts() == before


def test_idempotency_key_replays_the_first_order_and_refuses_another_body(staff_client, sku, warehouse):
    first = staff_client.post("/api/v1/orders", _body(sku), format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    again = staff_client.post("/api/v1/orders", _body(sku), format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["order_no"] == first.json()["order_no"]
    assert Order.objects.count() == 1
    assert stock_of(sku, warehouse).reserved == 2
    before = _counts()
    other = staff_client.post("/api/v1/orders", _body(sku, quantity=1), format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_conflict"
    assert _counts() == before


def test_a_shop_sees_only_its_own_orders(signed, sku):
    mine = create_order((sku, 1), shop=signed.shop)
    theirs = create_order((sku, 1), shop=ShopFactory())
    own = create_order((sku, 1))
    assert signed.get(f"/api/v1/orders/{mine.order_no}").status_code == 200
    for order in (theirs, own):
        response = signed.get(f"/api/v1/orders/{order.order_no}")
        assert response.status_code == 404
        assert response.json()["code"] == "order_not_found"
        assert signed.get(f"/api/v1/orders/{order.order_no}/history").status_code == 404
        assert signed.post(f"/api/v1/orders/{order.order_no}/cancel", {}).status_code == 404
    listed = signed.get("/api/v1/orders").json()["results"]
    assert [item["order_no"] for item in listed] == [mine.order_no]
    assert Order.objects.get(pk=theirs.pk).status == "pending_payment"


def test_personal_data_is_masked_without_the_permission(cs_client, privileged_client, sku):
    order = create_order((sku, 1))
    masked = cs_client.get(f"/api/v1/orders/{order.order_no}").json()["recipient"]
    assert masked["phone"] == "138****8000"
    assert "世纪大道" not in masked["address"]
    listed = cs_client.get("/api/v1/orders").json()["results"][0]["recipient"]
    assert listed["phone"] == "138****8000"
    clear = privileged_client.get(f"/api/v1/orders/{order.order_no}").json()["recipient"]
    assert (clear["phone"], clear["address"]) == ("13800138000", "世纪大道100号")


def test_only_staff_and_shops_may_call(api_client, django_user_model, sku):
    order = create_order((sku, 1))
    assert api_client.get(f"/api/v1/orders/{order.order_no}").status_code in (401, 403)
    customer = django_user_model.objects.create_user("customer", password="x")
    api_client.force_login(customer)
    assert api_client.get(f"/api/v1/orders/{order.order_no}").status_code == 403


def test_the_detail_is_cached_and_a_committed_change_shows_at_once(staff_client, sku):
    order = create_order((sku, 1))
    first = staff_client.get(f"/api/v1/orders/{order.order_no}").json()
    assert cache.get(order_cache_key(order.order_no))["data"]["order_no"] == order.order_no
    with CaptureQueriesContext(connection) as captured:
        assert staff_client.get(f"/api/v1/orders/{order.order_no}").json() == first
    assert not [q for q in captured.captured_queries if "orders_order" in q["sql"]]
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        order_update_remark(order_no=order.order_no, remark="gift wrap", actor="cs")
    assert staff_client.get(f"/api/v1/orders/{order.order_no}").json()["seller_remark"] == "gift wrap"


def test_a_change_committed_while_the_detail_is_rendered_is_not_hidden_by_the_cache(
    sku, django_capture_on_commit_callbacks
):
    order = create_order((sku, 1))

    def render_then_change(loaded):
        data = {"seller_remark": loaded.seller_remark}
        with django_capture_on_commit_callbacks(execute=True):
            order_update_remark(order_no=order.order_no, remark="gift wrap", actor="cs")
        return data

    assert order_detail_cached(order_no=order.order_no, render=render_then_change)["data"] == {"seller_remark": ""}
    fresh = order_detail_cached(order_no=order.order_no, render=lambda loaded: {"seller_remark": loaded.seller_remark})
    assert fresh["data"] == {"seller_remark": "gift wrap"}
    with CaptureQueriesContext(connection) as captured:
        again = order_detail_cached(order_no=order.order_no, render=lambda loaded: {"never": "called"})
    assert again == fresh
    assert not captured.captured_queries


def test_an_unknown_order_is_cached_as_missing_briefly(staff_client, sku):
    response = staff_client.get("/api/v1/orders/20990101000000000001")
    assert response.status_code == 404
    assert response.json()["code"] == "order_not_found"
    with CaptureQueriesContext(connection) as captured:
        assert staff_client.get("/api/v1/orders/20990101000000000001").status_code == 404
    assert not [q for q in captured.captured_queries if "orders_order" in q["sql"]]


def test_list_filters_and_paginates_by_cursor(staff_client, sku, other_sku):
    orders = [create_order((sku, 1), buyer_id="alice") for _ in range(3)]
    create_order((other_sku, 1), buyer_id="bob")
    pay_first = orders[0]
    from tests.orders.factories import pay

    pay(pay_first)
    page = staff_client.get("/api/v1/orders", {"buyer_id": "alice", "page_size": 2}).json()
    assert [item["order_no"] for item in page["results"]] == [orders[2].order_no, orders[1].order_no]
    rest = staff_client.get(page["next"]).json()
    assert [item["order_no"] for item in rest["results"]] == [orders[0].order_no]
    paid = staff_client.get("/api/v1/orders", {"status": "paid"}).json()["results"]
    assert [item["order_no"] for item in paid] == [pay_first.order_no]
    future = staff_client.get("/api/v1/orders", {"created_after": "2999-01-01T00:00:00+08:00"}).json()
    assert future["results"] == []
    bad = staff_client.get("/api/v1/orders", {"status": "nonsense"})
    assert (bad.status_code, bad.json()["code"]) == (400, "validation_error")


def test_list_and_detail_run_a_fixed_number_of_queries(privileged_client, warehouse):
    skus = SkuFactory.create_batch(20)
    for item in skus:
        receive(item, warehouse, 20)
    small = create_order((skus[0], 1))
    big = create_order(*[(item, 1) for item in skus])
    counts = []
    for order_no in (small.order_no, big.order_no):
        cache.clear()
        with CaptureQueriesContext(connection) as captured:
            assert privileged_client.get(f"/api/v1/orders/{order_no}").status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1]
    listing = []
    for extra in (0, 10):
        for _ in range(extra):
            create_order((skus[1], 1))
        with CaptureQueriesContext(connection) as captured:
            assert privileged_client.get("/api/v1/orders").status_code == 200
        listing.append(len(captured))
    assert listing[0] == listing[1]


def test_history_lists_every_change_oldest_first(staff_client, sku):
    order = create_order((sku, 1))
    staff_client.post(f"/api/v1/orders/{order.order_no}/cancel", {"reason": "duplicate"}, format="json")
    history = staff_client.get(f"/api/v1/orders/{order.order_no}/history").json()
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        ("", "pending_payment"),
        ("pending_payment", "cancelled"),
    ]
    assert history[1]["remark"] == "duplicate"


def test_cancel_via_the_api_and_a_second_cancel_is_409(staff_client, sku, warehouse):
    order = create_order((sku, 3))
    first = staff_client.post(f"/api/v1/orders/{order.order_no}/cancel", {"reason": "x"}, format="json")
    second = staff_client.post(f"/api/v1/orders/{order.order_no}/cancel", {"reason": "x"}, format="json")
    assert first.status_code == 200
    assert first.json()["status"] == "cancelled"
    assert (second.status_code, second.json()["code"]) == (409, "invalid_status")
    assert stock_of(sku, warehouse).reserved == 0


def test_amounts_and_status_are_not_writable(staff_client, sku):
    before = _counts()
    response = staff_client.post(
        "/api/v1/orders",
        _body(sku, status="paid", payable_amount="0.01", paid_amount="70.00", shop=1),
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_field"
    assert response.json()["details"]["fields"] == ["paid_amount", "payable_amount", "shop", "status"]
    assert _counts() == before


def test_the_schema_documents_the_order_endpoints(staff_client):
    schema = staff_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/orders"])
    assert "/api/v1/orders/{order_no}/cancel" in paths


def test_a_sold_out_hot_sku_is_refused_with_fewer_queries_than_a_database_refusal(staff_client, sku, warehouse):
    hot = SkuFactory(is_hot=True)
    receive(hot, warehouse, 1)
    gate_sync()
    assert staff_client.post("/api/v1/orders", _body(hot, quantity=1), format="json").status_code == 201
    before = _counts()
    refusals = {}
    for item in (hot, sku):
        with CaptureQueriesContext(connection) as captured:
            response = staff_client.post(
                "/api/v1/orders", _body(item, quantity=11), format="json", HTTP_IDEMPOTENCY_KEY=f"k-{item.code}"
            )
        assert response.status_code == 409
        assert [s["sku_code"] for s in response.json()["details"]["shortages"]] == [item.code]
        refusals[item.code] = len(captured)
    assert _counts() == before
    # The gate answers from Redis before authentication, the SKU read and the idempotency claim.
    assert refusals[hot.code] == 0
    assert refusals[sku.code] > 0


def test_a_signed_flash_sale_refusal_runs_no_sql_and_signatures_are_still_checked(
    signed, sku, warehouse, api_client, django_assert_num_queries
):
    hot = SkuFactory(is_hot=True, price=Decimal("30.00"))
    receive(hot, warehouse, 1)
    gate_sync()
    assert signed.post("/api/v1/orders", _body(hot, quantity=1)).status_code == 201
    with django_assert_num_queries(0):
        refused = signed.post("/api/v1/orders", _body(hot, quantity=1), headers={"Idempotency-Key": "late"})
    assert (refused.status_code, refused.json()["code"]) == (409, "insufficient_stock")

    before = _counts()
    assert signed.post("/api/v1/orders", _body(sku), secret="forged").status_code == 401
    assert api_client.post("/api/v1/orders", _body(hot, quantity=1), format="json").status_code in (401, 403)
    assert _counts() == before


def test_an_edit_names_its_version_in_if_match_or_the_body(signed, sku):
    order = create_order((sku, 1), shop=signed.shop)
    path = f"/api/v1/orders/{order.order_no}/remark"

    unreadable = signed.post(path, {"remark": "x"}, headers={"If-Match": "yesterday"})
    assert unreadable.status_code == 400
    assert list(unreadable.json()["details"]) == ["If-Match"]

    weak = signed.post(path, {"remark": "by header"}, headers={"If-Match": f'W/"{order.version}"'})
    assert weak.status_code == 200
    assert weak.json()["version"] == order.version + 1
    stale_body = signed.post(path, {"remark": "by body", "version": order.version})
    assert (stale_body.status_code, stale_body.json()["code"]) == (412, "version_conflict")
    fresh_body = signed.post(path, {"remark": "by body", "version": order.version + 1})
    assert fresh_body.status_code == 200
    assert Order.objects.get(pk=order.pk).seller_remark == "by body"
