"""Redis down: signed API requests answer 503 ``dependency_unavailable`` with Retry-After (the
nonce store is gone, so a replay could not be told apart), and work again once Redis is back."""

import pytest
from django.test import override_settings

from apps.orders.models import Order
from tests.orders.test_api import _body as order_body

pytestmark = pytest.mark.django_db


def test_signed_requests_answer_503_while_redis_is_down_and_200_once_it_is_back(own_redis, signed, sku):
    with override_settings(CACHES=own_redis.cache_settings()):
        own_redis.kill()
        try:
            read = signed.get("/api/v1/orders")
            create = signed.post("/api/v1/orders", order_body(sku))
        finally:
            own_redis.start()
        back = signed.get("/api/v1/orders")

    for response in (read, create):
        assert response.status_code == 503
        assert response.json()["code"] == "dependency_unavailable"
        assert response.json()["details"] == {"dependency": "cache"}
        assert int(response["Retry-After"]) > 0
    assert not Order.objects.exists()
    assert back.status_code == 200
