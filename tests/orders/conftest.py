import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from tests.conftest import SignedClient
from tests.core.factories import UserFactory as StaffFactory
from tests.orders.factories import SHOP_SECRET, ShopFactory, SkuFactory, WarehouseFactory, receive


@pytest.fixture
def warehouse():
    return WarehouseFactory()


@pytest.fixture
def sku(warehouse):
    sku = SkuFactory()
    receive(sku, warehouse, 10)
    return sku


@pytest.fixture
def other_sku(warehouse):
    sku = SkuFactory()
    receive(sku, warehouse, 10)
    return sku


@pytest.fixture
def shop():
    return ShopFactory()


@pytest.fixture
def signed(shop) -> SignedClient:
    return SignedClient(shop, SHOP_SECRET)


@pytest.fixture
def cs_client():
    """Customer service without the permission to see phones and addresses."""
    client = APIClient()
    client.force_login(StaffFactory())
    return client


@pytest.fixture
def privileged_client():
    user = StaffFactory()
    user.user_permissions.add(Permission.objects.get(codename="view_personal_data"))
    client = APIClient()
    client.force_login(user)
    return client
