"""POST /api/v1/orders/{order_no}/payments: 201 with client params, 409, shop scoping, idempotency."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.payments.models import Payment, PaymentStatus
from tests.conftest import SignedClient
from tests.payments.factories import SHOP_SECRET, OrderFactory, ShopFactory

pytestmark = pytest.mark.django_db


def url(order_no: str) -> str:
    return f"/api/v1/orders/{order_no}/payments"


@pytest.mark.parametrize(("provider", "param"), [("wechat", "code_url"), ("alipay", "qr_code")])
def test_signed_shop_starts_a_payment_for_its_order(sandbox, provider, param):
    order = OrderFactory(payable_amount=Decimal("123.45"))
    client = SignedClient(order.shop, SHOP_SECRET)

    response = client.post(url(order.order_no), {"provider": provider})

    assert response.status_code == 201, response.content
    body = response.json()
    payment = Payment.objects.get()
    assert body["out_trade_no"] == payment.out_trade_no
    assert body["amount"] == "123.45"
    assert body["status"] == PaymentStatus.CREATED
    assert body["client_params"][param].endswith(f"/sandbox/pay/{payment.out_trade_no}")
    assert sandbox.trades[payment.out_trade_no].amount == Decimal("123.45")


def test_the_trade_expires_at_the_orders_payment_deadline(sandbox):
    deadline = datetime(2099, 5, 6, 7, 8, 9, tzinfo=UTC)
    order = OrderFactory(payment_deadline=deadline)

    response = SignedClient(order.shop, SHOP_SECRET).post(url(order.order_no), {"provider": "alipay"})

    assert response.status_code == 201, response.content
    out_trade_no = response.json()["out_trade_no"]
    assert sandbox.trades[out_trade_no].time_expire == "2099-05-06 15:08:09"


def test_order_not_pending_payment_is_409(sandbox):
    order = OrderFactory(status="payment_timeout")
    response = SignedClient(order.shop, SHOP_SECRET).post(url(order.order_no), {"provider": "wechat"})

    assert response.status_code == 409
    assert response.json()["code"] == "order_not_payable"
    assert not Payment.objects.exists()


def test_another_shops_order_is_not_found(sandbox):
    order = OrderFactory()
    stranger = ShopFactory()
    response = SignedClient(stranger, SHOP_SECRET).post(url(order.order_no), {"provider": "wechat"})

    assert response.status_code == 404
    assert not Payment.objects.exists()


def test_unknown_provider_is_a_validation_error(sandbox):
    order = OrderFactory()
    response = SignedClient(order.shop, SHOP_SECRET).post(url(order.order_no), {"provider": "paypal"})
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_retry_with_the_same_idempotency_key_replays_the_first_answer(sandbox):
    order = OrderFactory()
    client = SignedClient(order.shop, SHOP_SECRET)
    first = client.post(url(order.order_no), {"provider": "wechat"}, headers={"Idempotency-Key": "k-1"})
    second = client.post(url(order.order_no), {"provider": "wechat"}, headers={"Idempotency-Key": "k-1"})

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Payment.objects.count() == 1


def test_gateway_down_is_503_and_retryable(sandbox, settings):
    order = OrderFactory()
    settings.WECHATPAY_GATEWAY_URL = "http://127.0.0.1:9"
    response = SignedClient(order.shop, SHOP_SECRET).post(url(order.order_no), {"provider": "wechat"})
    assert response.status_code == 503
    assert response.json()["code"] == "provider_unavailable"


def test_staff_session_may_start_any_order(sandbox, staff_client):
    order = OrderFactory()
    response = staff_client.post(url(order.order_no), {"provider": "alipay"}, format="json")
    assert response.status_code == 201
    assert Payment.objects.get().provider == "alipay"
