import base64
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.utils import timezone

from apps.aftersales.models import AfterSale
from apps.aftersales.services.aftersales import aftersale_approve, aftersale_refund
from apps.orders.models import Fulfillment
from apps.orders.services.merge import fulfillments_merge_group
from apps.payments.models import Refund
from tests.aftersales.factories import (
    SHOP_SECRET,
    ShopFactory,
    SkuFactory,
    deliver,
    drain,
    pay,
    place_order,
    reload,
    settle_refunds,
)
from tests.conftest import SignedClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(shop):
    return SignedClient(shop, SHOP_SECRET)


@pytest.fixture
def delivered(shop, shirt):
    return deliver(pay(place_order(shop, [(shirt, 2, "50.00")])))


def _body(order, **overrides):
    return {
        "order_no": order.order_no,
        "type": "return_refund",
        "lines": [{"order_line_id": order.lines.get().pk, "quantity": 1}],
        "amount": "50.00",
        "reason": "Too small",
        **overrides,
    }


def test_shop_opens_and_follows_an_aftersale(client, delivered):
    response = client.post("/api/v1/aftersales", _body(delivered))
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "requested"
    assert data["source"] == "buyer"
    assert data["requested_amount"] == "50.00"
    assert data["lines"][0]["quantity"] == 1

    detail = client.get(f"/api/v1/aftersales/{data['aftersale_no']}").json()
    assert [(entry["to_status"], entry["operator"]) for entry in detail["log"]] == [
        ("requested", f"shop:{client.shop.code}")
    ]


def test_lines_may_name_skus(client, delivered, shirt):
    body = _body(delivered, lines=[{"sku_id": shirt.pk, "quantity": 2}], amount="100.00")
    response = client.post("/api/v1/aftersales", body)
    assert response.status_code == 201, response.content
    assert response.json()["lines"][0]["order_line_id"] == delivered.lines.get().pk


def test_idempotency_key_replays_the_first_response(client, delivered):
    headers = {"Idempotency-Key": "as-create-1"}
    first = client.post("/api/v1/aftersales", _body(delivered), headers=headers)
    second = client.post("/api/v1/aftersales", _body(delivered), headers=headers)
    other = client.post("/api/v1/aftersales", _body(delivered, reason="changed"), headers=headers)

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json()["aftersale_no"] == first.json()["aftersale_no"]
    assert second["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert AfterSale.objects.count() == 1


def test_another_shops_order_and_aftersale_are_not_found(client, delivered, shirt):
    stranger = SignedClient(ShopFactory(), SHOP_SECRET)
    response = stranger.post("/api/v1/aftersales", _body(delivered))
    assert response.status_code == 404
    assert response.json()["code"] == "order_not_found"

    mine = client.post("/api/v1/aftersales", _body(delivered)).json()["aftersale_no"]
    assert stranger.get(f"/api/v1/aftersales/{mine}").status_code == 404
    assert stranger.post(f"/api/v1/aftersales/{mine}/cancel", {}).status_code == 404
    assert AfterSale.objects.get().status == "requested"


def test_invalid_input_is_a_validation_error_and_creates_nothing(client, delivered):
    response = client.post("/api/v1/aftersales", _body(delivered, type="swap", amount="-1"))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert set(body["details"]) == {"type", "amount"}
    assert not AfterSale.objects.exists()


def test_over_return_and_over_refund_answer_422_with_codes(client, delivered):
    line_id = delivered.lines.get().pk
    too_many = client.post("/api/v1/aftersales", _body(delivered, lines=[{"order_line_id": line_id, "quantity": 3}]))
    too_much = client.post("/api/v1/aftersales", _body(delivered, amount="100.01"))
    assert (too_many.status_code, too_many.json()["code"]) == (422, "quantity_exceeds_returnable")
    assert (too_much.status_code, too_much.json()["code"]) == (422, "amount_exceeds_refundable")
    assert too_much.json()["details"]["refundable"] == "100.00"


def test_return_shipment_then_cancel_is_refused_once_the_goods_are_posted(client, delivered, admin_user):
    number = client.post("/api/v1/aftersales", _body(delivered)).json()["aftersale_no"]
    early = client.post(f"/api/v1/aftersales/{number}/return-shipment", {"carrier": "SF", "tracking_no": "SF1"})
    assert (early.status_code, early.json()["code"]) == (409, "invalid_status")

    aftersale_approve(aftersale_no=number, actor="admin:alice")
    shipped = client.post(f"/api/v1/aftersales/{number}/return-shipment", {"carrier": "SF", "tracking_no": "SF123"})
    assert shipped.status_code == 200
    assert (shipped.json()["return_carrier"], shipped.json()["return_tracking_no"]) == ("SF", "SF123")

    refused = client.post(f"/api/v1/aftersales/{number}/cancel", {"reason": "Kept it"})
    assert (refused.status_code, refused.json()["code"]) == (409, "return_already_sent")
    assert "SF123" in refused.json()["message"]
    assert client.get(f"/api/v1/aftersales/{number}").json()["status"] == "awaiting_return"
    assert AfterSale.objects.get().requested_amount == Decimal("50.00")


def test_requester_cancels_while_awaiting_return_before_posting_the_goods(client, delivered):
    number = client.post("/api/v1/aftersales", _body(delivered)).json()["aftersale_no"]
    aftersale_approve(aftersale_no=number, actor="admin:alice")

    cancelled = client.post(f"/api/v1/aftersales/{number}/cancel", {"reason": "Kept it"})
    assert cancelled.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/aftersales/{number}/cancel", {})
    assert (again.status_code, again.json()["code"]) == (409, "invalid_status")


def test_shop_cannot_cancel_an_aftersale_staff_opened(client, staff_client, delivered):
    number = staff_client.post("/api/v1/aftersales", _body(delivered), format="json").json()["aftersale_no"]

    refused = client.post(f"/api/v1/aftersales/{number}/cancel", {})
    assert (refused.status_code, refused.json()["code"]) == (403, "not_requester")
    assert AfterSale.objects.get().status == "requested"
    cancelled = staff_client.post(f"/api/v1/aftersales/{number}/cancel", {}, format="json")
    assert cancelled.json()["status"] == "cancelled"


def test_staff_session_opens_as_staff(staff_client, delivered):
    response = staff_client.post("/api/v1/aftersales", _body(delivered), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["source"] == "staff"


def test_schema_documents_the_endpoints(staff_client):
    schema = staff_client.get("/api/schema/").content.decode()
    for path in ("/api/v1/aftersales", "/return-shipment", "aftersale_cancel", "aftersale_list"):
        assert path in schema


def test_rest_of_an_unshipped_order_can_be_refunded_while_a_partial_refund_is_in_flight(client, shop, shirt):
    order = pay(place_order(shop, [(shirt, 2, "50.00")]))
    assert order.status == "pending_shipment"
    first = client.post("/api/v1/aftersales", _body(order, type="refund_only", lines=[], amount="10.00"))
    assert first.json()["status"] == "requested", first.content
    aftersale_approve(aftersale_no=first.json()["aftersale_no"], actor="admin:alice")
    aftersale_refund(aftersale_no=first.json()["aftersale_no"], actor="admin:finance")
    drain()

    rest = client.post("/api/v1/aftersales", _body(order, type="refund_only", lines=[], amount="90.00"))
    assert rest.status_code == 201, rest.content
    assert rest.json()["status"] == "refunding"
    assert reload(order).status == "cancelled"
    assert sorted(Refund.objects.filter(order_no=order.order_no).values_list("amount", flat=True)) == [
        Decimal("10.00"),
        Decimal("90.00"),
    ]

    settle_refunds(order.order_no)
    statuses = [client.get(f"/api/v1/aftersales/{r.json()['aftersale_no']}").json()["status"] for r in (first, rest)]
    assert statuses == ["completed", "completed"]
    assert reload(order).refunded_amount == Decimal("100.00")


def test_refund_of_an_order_in_a_merged_parcel_claimed_for_the_wms_waits_for_staff(client, shop, shirt, jeans):
    first = pay(place_order(shop, [(shirt, 1, "50.00")]))
    second = pay(place_order(shop, [(jeans, 2, "50.00")], same_buyer_as=first))
    parcels = Fulfillment.objects.filter(lines__order_line__order__in=[first, second]).order_by("pk")
    merged = fulfillments_merge_group(fulfillment_ids=[f.pk for f in parcels], actor="system:beat")
    # The WMS call is under way: the merged parcel is claimed but still pending.
    Fulfillment.objects.filter(pk=merged.pk).update(sent_to_wms_at=timezone.now())

    response = client.post("/api/v1/aftersales", _body(second, type="refund_only", lines=[], amount="100.00"))

    assert response.status_code == 201, response.content
    assert response.json()["status"] == "requested"
    assert reload(second).status == "pending_shipment"
    assert Fulfillment.objects.get(pk=merged.pk).lines.count() == 2
    assert not Refund.objects.filter(order_no=second.order_no).exists()
    aftersale_approve(aftersale_no=response.json()["aftersale_no"], actor="admin:alice")
    assert client.get(f"/api/v1/aftersales/{response.json()['aftersale_no']}").json()["status"] == "approved"


def test_exchange_to_an_unknown_or_inactive_sku_is_refused_and_creates_nothing(client, delivered):
    retired = SkuFactory(is_active=False)
    line_id = delivered.lines.get().pk

    def exchange_to(sku_id):
        lines = [{"order_line_id": line_id, "quantity": 1, "exchange_sku_id": sku_id}]
        return client.post("/api/v1/aftersales", _body(delivered, type="exchange", lines=lines, amount="0"))

    unknown = exchange_to(retired.pk + 1000)
    inactive = exchange_to(retired.pk)

    assert (unknown.status_code, unknown.json()["code"]) == (400, "exchange_sku_not_found")
    assert unknown.json()["details"] == {"exchange_sku_ids": [retired.pk + 1000]}
    assert (inactive.status_code, inactive.json()["code"]) == (400, "exchange_sku_inactive")
    assert inactive.json()["message"]
    assert not AfterSale.objects.exists()


def test_sku_split_over_two_lines_maps_past_the_items_another_aftersale_claims(client, shop, shirt):
    order = deliver(pay(place_order(shop, [(shirt, 2, "50.00"), (shirt, 3, "40.00")])))
    first_line, second_line = order.lines.order_by("pk")

    def open_return(lines, amount):
        body = {
            "order_no": order.order_no,
            "type": "return_refund",
            "lines": lines,
            "amount": amount,
            "reason": "Too big",
        }
        return client.post("/api/v1/aftersales", body)

    assert open_return([{"order_line_id": first_line.pk, "quantity": 2}], "100.00").status_code == 201

    by_sku = open_return([{"sku_id": shirt.pk, "quantity": 3}], "120.00")

    assert by_sku.status_code == 201, by_sku.content
    assert [(line["order_line_id"], line["quantity"]) for line in by_sku.json()["lines"]] == [(second_line.pk, 3)]
    too_many = open_return([{"sku_id": shirt.pk, "quantity": 1}], "0")
    assert (too_many.status_code, too_many.json()["code"]) == (422, "quantity_exceeds_returnable")


def test_list_shows_the_callers_aftersales_filtered_and_paginated(client, shop, shirt, jeans):
    orders = [deliver(pay(place_order(shop, [(shirt, 1, "50.00")]))) for _n in range(3)]
    numbers = [client.post("/api/v1/aftersales", _body(order)).json()["aftersale_no"] for order in orders]
    aftersale_approve(aftersale_no=numbers[0], actor="admin:alice")
    stranger = SignedClient(ShopFactory(), SHOP_SECRET)
    other_order = deliver(pay(place_order(stranger.shop, [(jeans, 1, "50.00")])))
    assert stranger.post("/api/v1/aftersales", _body(other_order)).status_code == 201

    def listed(**params):
        response = client.get(f"/api/v1/aftersales?{urlencode(params)}")
        assert response.status_code == 200, response.content
        return response.json()

    page = listed(page_size=2)
    assert [item["aftersale_no"] for item in page["results"]] == [numbers[2], numbers[1]]
    rest = listed(**dict(parse_qsl(urlsplit(page["next"]).query)))
    assert [item["aftersale_no"] for item in rest["results"]] == [numbers[0]]
    assert rest["next"] is None

    waiting = listed(status="awaiting_return")["results"]
    assert [(item["aftersale_no"], item["order_no"]) for item in waiting] == [(numbers[0], orders[0].order_no)]
    assert [item["aftersale_no"] for item in listed(order_no=orders[1].order_no)["results"]] == [numbers[1]]
    assert listed(order_no=other_order.order_no)["results"] == []

    bad = client.get("/api/v1/aftersales?status=lost")
    assert (bad.status_code, bad.json()["code"]) == (400, "validation_error")


@pytest.mark.parametrize("querystring", ["p=abc", "p=1.5"])
def test_a_doctored_list_cursor_is_a_400(client, querystring):
    cursor = base64.b64encode(querystring.encode()).decode()
    response = client.get(f"/api/v1/aftersales?{urlencode({'cursor': cursor})}")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_cursor")
