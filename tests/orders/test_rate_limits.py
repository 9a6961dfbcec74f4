"""Rate limits of shop apps: a token bucket in Redis per app key and kind of endpoint, atomic
across concurrent requests; 429 ``rate_limited`` with Retry-After and RateLimit-* headers and
nothing written; with the limiter's Redis down, orders keep flowing and the outage is counted."""

import math
import threading
import time
import uuid

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from apps.core.ratelimit import bucket_key
from apps.orders.models import Order
from tests.conftest import SignedClient
from tests.orders.factories import SHOP_SECRET, ShopFactory, receive
from tests.orders.test_api import _body


def order_body(sku, quantity=1):
    """A storefront order stating the SKU's current OMS price, each from a buyer of its own (a
    buyer may hold only a few unpaid orders)."""
    body = _body(sku, quantity=quantity, buyer_id=f"buyer-{uuid.uuid4().hex[:12]}")
    body["lines"][0]["unit_price"] = str(sku.price)
    return body


def limited_shop(**limits):
    shop = ShopFactory()
    for field, value in limits.items():
        setattr(shop, f"rate_limit_{field}", value)
    shop.save()
    return shop


def assert_rate_limited(response, kind: str) -> None:
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "rate_limited"
    assert body["details"]["kind"] == kind
    assert int(response["Retry-After"]) >= 1
    for header in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"):
        assert response.has_header(header)


@pytest.mark.django_db(transaction=True)
def test_300_concurrent_creates_against_100_a_minute_accept_at_most_100_plus_the_burst(sku, warehouse):
    receive(sku, warehouse, 1000)
    burst = 5
    shop = limited_shop(create_per_minute=100, create_burst=burst)
    statuses: list[int] = []
    refused: list = []
    lock = threading.Lock()
    start = threading.Barrier(30)

    def client_thread() -> None:
        client = SignedClient(shop, SHOP_SECRET)
        try:
            start.wait()
            for _ in range(10):
                response = client.post("/api/v1/orders", order_body(sku, quantity=1))
                with lock:
                    statuses.append(response.status_code)
                    if response.status_code == 429:
                        refused.append(response)
        finally:
            connection.close()

    began = time.monotonic()
    threads = [threading.Thread(target=client_thread) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began

    accepted = statuses.count(201)
    assert len(statuses) == 300
    assert set(statuses) <= {201, 429}
    assert burst <= accepted <= 100 + burst
    # A token bucket gives no more than the burst plus what refilled while the test ran.
    assert accepted <= burst + math.ceil(100 * elapsed / 60) + 1
    assert Order.objects.filter(shop=shop).count() == accepted
    assert_rate_limited(refused[0], "create")
    assert refused[0]["RateLimit-Limit"] == "100"


@pytest.mark.django_db
def test_each_kind_has_its_own_bucket_and_each_app_its_own_limits(sku):
    shop = limited_shop(read_per_minute=1, read_burst=2)
    other = ShopFactory()
    client, other_client = SignedClient(shop, SHOP_SECRET), SignedClient(other, SHOP_SECRET)

    reads = [client.get("/api/v1/orders") for _ in range(2)]
    over = client.get("/api/v1/orders")
    create = client.post("/api/v1/orders", order_body(sku, quantity=1))
    other_read = other_client.get("/api/v1/orders")

    assert [r.status_code for r in reads] == [200, 200]
    assert [r["RateLimit-Remaining"] for r in reads] == ["1", "0"]  # clients see the budget shrink
    assert_rate_limited(over, "read")
    assert over["RateLimit-Remaining"] == "0"
    assert int(over["Retry-After"]) >= 30  # one read a minute: the next token is that far off
    assert create.status_code == 201
    assert other_read.status_code == 200


def test_bucket_keys_keep_the_app_key_in_a_cluster_hash_tag():
    assert bucket_key("appkey00001", "create") == "ratelimit:{appkey00001}:create"


@pytest.mark.django_db
def test_with_the_limiters_redis_down_orders_keep_flowing_and_the_outage_is_counted(own_redis, sku, client):
    shop = limited_shop(create_per_minute=1, create_burst=1)
    signed = SignedClient(shop, SHOP_SECRET)
    before = client.get("/readyz").json()["rate_limiter"]["fail_open_total"]
    caches = {"default": settings.CACHES["default"], "ratelimit": own_redis.cache_settings()["default"]}
    with override_settings(CACHES=caches):
        own_redis.kill()
        try:
            responses = [signed.post("/api/v1/orders", order_body(sku, quantity=1)) for _ in range(3)]
            readyz = client.get("/readyz").json()
        finally:
            own_redis.start()

    assert [r.status_code for r in responses] == [201, 201, 201]
    assert Order.objects.filter(shop=shop).count() == 3
    assert readyz["rate_limiter"]["fail_open_total"] == before + 3


@pytest.mark.django_db
def test_platform_pushes_have_their_own_bucket(sku):
    shop = limited_shop(push_per_minute=1, push_burst=1)
    client = SignedClient(shop, SHOP_SECRET)

    first = client.post(f"/api/v1/channels/{shop.code}/orders", {"tid": "1"})
    second = client.post(f"/api/v1/channels/{shop.code}/orders", {"tid": "2"})
    read = client.get("/api/v1/orders")

    assert first.status_code != 429
    assert_rate_limited(second, "push")
    assert read.status_code == 200


@pytest.mark.django_db
def test_staff_set_a_shops_limits_in_the_admin(admin_client):
    shop = ShopFactory()

    page = admin_client.get(f"/admin/shops/shop/{shop.pk}/change/").content.decode()

    for kind in ("create", "read", "push"):
        assert f'name="rate_limit_{kind}_per_minute"' in page
        assert f'name="rate_limit_{kind}_burst"' in page
