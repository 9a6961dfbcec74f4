import pytest
from django.contrib.auth import get_user_model

from apps.inventory.services import StockRequest, stock_reserve
from apps.shops.models import Shop
from tests.conftest import SignedClient
from tests.inventory.factories import WarehouseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stocked(sku, warehouse, receive):
    store = WarehouseFactory(code="HZ-STORE", name="杭州西湖店", kind="store", province="浙江", city="杭州")
    closed = WarehouseFactory(code="OLD", is_active=False)
    receive(sku, warehouse, 10)
    receive(sku, store, 4)
    receive(sku, closed, 99)
    stock_reserve(
        reference="SO1",
        requests=[StockRequest(sku_id=sku.pk, quantity=3)],
        operator="test",
        warehouse_ids=[warehouse.pk],
    )
    return store


def _shop(code: str, secret: str) -> Shop:
    shop = Shop(code=code, name=code, platform="own", app_key=f"key-{code}")
    shop.set_app_secret(secret)
    shop.save()
    return shop


def test_staff_see_every_active_warehouse_and_the_total(staff_client, sku, stocked):
    response = staff_client.get(f"/api/v1/skus/{sku.code}/stock")
    assert response.status_code == 200
    body = response.json()
    assert body["sku_code"] == sku.code
    assert body["warehouses"] == [
        {"code": "HZ-STORE", "name": "杭州西湖店", "kind": "store", "on_hand": 4, "reserved": 0, "available": 4},
        {"code": "SH01", "name": "上海华东仓", "kind": "warehouse", "on_hand": 10, "reserved": 3, "available": 7},
    ]
    assert body["total"] == {"on_hand": 14, "reserved": 3, "available": 11}


def test_a_shop_sees_only_its_assigned_warehouses(sku, stocked):
    shop = _shop("tmall-01", "s3cret")
    shop.warehouses.add(stocked)
    response = SignedClient(shop, "s3cret").get(f"/api/v1/skus/{sku.code}/stock")
    assert response.status_code == 200
    assert [w["code"] for w in response.json()["warehouses"]] == ["HZ-STORE"]
    assert response.json()["total"] == {"on_hand": 4, "reserved": 0, "available": 4}


def test_a_shop_without_assigned_warehouses_sees_all_active_ones(sku, stocked):
    shop = _shop("own-app", "s3cret")
    response = SignedClient(shop, "s3cret").get(f"/api/v1/skus/{sku.code}/stock")
    assert response.json()["total"]["available"] == 11


def test_unknown_sku_is_a_404_with_a_code(staff_client):
    response = staff_client.get("/api/v1/skus/NOPE/stock")
    assert response.status_code == 404
    assert response.json()["code"] == "sku_not_found"


def test_anonymous_and_non_staff_users_are_refused(api_client, sku, stocked):
    assert api_client.get(f"/api/v1/skus/{sku.code}/stock").status_code in (401, 403)
    user = get_user_model().objects.create_user("clerk", password="x")
    api_client.force_login(user)
    response = api_client.get(f"/api/v1/skus/{sku.code}/stock")
    assert response.status_code == 403


def test_a_shop_counts_only_warehouses_that_take_online_orders(sku, stocked, receive):
    offline = WarehouseFactory(code="FACTORY", kind="factory", accepts_online_orders=False)
    receive(sku, offline, 50)
    shop = _shop("own-app", "s3cret")
    body = SignedClient(shop, "s3cret").get(f"/api/v1/skus/{sku.code}/stock").json()
    assert [w["code"] for w in body["warehouses"]] == ["HZ-STORE", "SH01"]
    assert body["total"] == {"on_hand": 14, "reserved": 3, "available": 11}
    shop.warehouses.add(offline, stocked)
    body = SignedClient(shop, "s3cret").get(f"/api/v1/skus/{sku.code}/stock").json()
    assert [w["code"] for w in body["warehouses"]] == ["HZ-STORE"]
    assert body["total"]["available"] == 4


def test_a_shop_sees_nothing_to_sell_of_an_inactive_sku(sku, stocked):
    sku.is_active = False
    sku.save()
    body = SignedClient(_shop("own-app", "s3cret"), "s3cret").get(f"/api/v1/skus/{sku.code}/stock").json()
    assert body["warehouses"] == []
    assert body["total"] == {"on_hand": 0, "reserved": 0, "available": 0}
