"""The signed push API: authentication cases, shop scoping, idempotent storage, 202."""

import time

import pytest

from apps.channels.models import RawOrder
from tests.channels.conftest import platform_order
from tests.channels.factories import ShopFactory
from tests.conftest import SignedClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def pushing(make_shop):
    ps = make_shop("douyin")
    return ps, SignedClient(ps.shop, ps.secret), f"/api/v1/channels/{ps.shop.code}/orders"


def test_a_signed_push_is_stored_and_answered_202_before_conversion(pushing):
    ps, client, url = pushing
    orders = [platform_order(ps, "6001"), platform_order(ps, "6002")]

    response = client.post(url, orders)

    assert response.status_code == 202
    assert [(r["platform_order_id"], r["outcome"]) for r in response.json()["results"]] == [
        ("6001", "created"),
        ("6002", "created"),
    ]
    raw = RawOrder.objects.get(shop=ps.shop, platform_order_id="6001")
    assert raw.status == RawOrder.Status.PENDING
    assert raw.payload == orders[0]
    assert raw.order_id is None


def test_the_same_payload_twice_is_a_no_op_and_a_changed_one_is_queued_again(pushing):
    ps, client, url = pushing
    order = platform_order(ps, "6003")
    client.post(url, order)
    RawOrder.objects.filter(platform_order_id="6003").update(status=RawOrder.Status.CONVERTED)

    again = client.post(url, order)
    assert again.json()["results"][0]["outcome"] == "unchanged"
    assert RawOrder.objects.get(platform_order_id="6003").status == RawOrder.Status.CONVERTED

    changed = platform_order(ps, "6003", status="cancelled", minutes_ago=0)
    response = client.post(url, changed)
    assert response.json()["results"][0]["outcome"] == "updated"
    raw = RawOrder.objects.get(platform_order_id="6003")
    assert raw.status == RawOrder.Status.PENDING
    assert raw.payload == changed
    assert RawOrder.objects.filter(shop=ps.shop).count() == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"timestamp": int(time.time()) - 301},
        {"app_key": "no-such-key"},
        {"secret": "wrong-secret"},
    ],
    ids=["stale", "unknown-key", "bad-signature"],
)
def test_bad_signatures_get_a_generic_401_and_store_nothing(pushing, overrides):
    ps, client, url = pushing

    response = client.post(url, platform_order(ps, "6004"), **overrides)

    assert response.status_code == 401
    assert response.json()["message"] == "Authentication failed."
    assert not RawOrder.objects.exists()


def test_a_replayed_nonce_is_refused(pushing):
    ps, client, url = pushing
    first = client.post(url, platform_order(ps, "6005"), nonce="nonce-1")
    replay = client.post(url, platform_order(ps, "6005"), nonce="nonce-1")

    assert first.status_code == 202
    assert replay.status_code == 401


def test_a_shop_cannot_push_to_another_shop(pushing):
    ps, client, _url = pushing
    other = ShopFactory(platform="douyin")

    response = client.post(f"/api/v1/channels/{other.code}/orders", platform_order(ps, "6006"))

    assert response.status_code == 403
    assert response.json()["code"] == "shop_mismatch"
    assert not RawOrder.objects.exists()


def test_one_unreadable_order_rejects_the_batch(pushing):
    ps, client, url = pushing
    broken = platform_order(ps, "6008")
    del broken["sku_order_list"]

    response = client.post(url, [platform_order(ps, "6007"), broken])

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_payload"
    assert list(response.json()["details"]) == ["1"]
    assert not RawOrder.objects.exists()


def test_staff_sessions_cannot_push(staff_client, make_shop):
    ps = make_shop("tmall")

    response = staff_client.post(f"/api/v1/channels/{ps.shop.code}/orders", {}, format="json")

    assert response.status_code == 403


def _pushed(make_shop, platform):
    ps = make_shop(platform)
    return ps, SignedClient(ps.shop, ps.secret), f"/api/v1/channels/{ps.shop.code}/orders"


def _assert_refused(response, index="0"):
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "invalid_payload"
    assert list(response.json()["details"]) == [index]
    assert not RawOrder.objects.exists()


@pytest.mark.parametrize("platform", ["tmall", "jd", "douyin", "wechat"])
def test_an_order_id_longer_than_we_store_is_refused(make_shop, platform):
    ps, client, url = _pushed(make_shop, platform)

    response = client.post(url, [platform_order(ps, "6101"), platform_order(ps, "7" * 100)])

    _assert_refused(response, "1")
    assert "64" in response.json()["details"]["1"][0]


@pytest.mark.parametrize(
    ("platform", "field", "value"),
    [
        ("tmall", "modified", "0001-01-01 00:00:00"),
        ("jd", "modified", "0001-01-01 00:00:00"),
        ("tmall", "pay_time", "0001-01-01 00:00:00"),
    ],
)
def test_a_time_out_of_range_is_refused(make_shop, platform, field, value):
    ps, client, url = _pushed(make_shop, platform)
    order = platform_order(ps, "6102")
    order[field] = value

    _assert_refused(client.post(url, order))


def test_a_field_of_the_wrong_shape_is_refused(make_shop):
    ps, client, url = _pushed(make_shop, "tmall")
    order = platform_order(ps, "6103")
    order["orders"] = "x"

    _assert_refused(client.post(url, order))
