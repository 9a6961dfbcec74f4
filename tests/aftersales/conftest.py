import pytest

from tests.aftersales.factories import ShopFactory, SkuFactory, WarehouseFactory, receive


@pytest.fixture(autouse=True)
def _payment_gateway_unreachable(settings):
    """Refund submissions meet the closed discard port (provider unavailable, retried later);
    the tests play the provider's answer with ``settle_refunds``."""
    settings.WECHATPAY_GATEWAY_URL = "http://127.0.0.1:9"
    settings.ALIPAY_GATEWAY_URL = "http://127.0.0.1:9/alipay/gateway.do"
    settings.WMS_BASE_URL = ""
    settings.AUDIT_HOLD_ON_BUYER_MESSAGE = True


@pytest.fixture
def warehouse():
    return WarehouseFactory()


@pytest.fixture
def shop():
    return ShopFactory()


@pytest.fixture
def shirt(warehouse):
    sku = SkuFactory()
    receive(sku, warehouse, 20)
    return sku


@pytest.fixture
def jeans(warehouse):
    sku = SkuFactory()
    receive(sku, warehouse, 20)
    return sku
