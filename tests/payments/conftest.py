from decimal import Decimal

import pytest

from apps.payments.sandbox.gateway import SandboxConfig
from apps.payments.sandbox.keys import ensure_sandbox_keys
from apps.payments.sandbox.server import serve_in_thread


@pytest.fixture(scope="session")
def payment_keys(tmp_path_factory):
    """Real RSA keys for both sides, generated once per test session."""
    return ensure_sandbox_keys(tmp_path_factory.mktemp("payment-keys"))


@pytest.fixture
def sandbox(payment_keys, settings):
    """The sandbox gateway on a free loopback port, with the providers pointed at it.

    Notifications are not sent by the gateway: tests take the signed notification it builds
    and post it to our callback endpoint themselves (or drop it, to play a lost callback).
    """
    config = SandboxConfig(keys_dir=payment_keys, send_notifications=False)
    gateway, server = serve_in_thread(config)
    settings.PAYMENT_NOTIFY_BASE_URL = "http://testserver"
    settings.WECHATPAY_GATEWAY_URL = config.public_url
    settings.WECHATPAY_MCHID = config.wechat_mchid
    settings.WECHATPAY_APPID = config.wechat_appid
    settings.WECHATPAY_SERIAL_NO = config.wechat_merchant_serial
    settings.WECHATPAY_PRIVATE_KEY_PATH = str(payment_keys / "wechat_merchant_private.pem")
    settings.WECHATPAY_PLATFORM_CERTS_DIR = str(payment_keys / "wechat_platform_certs")
    settings.WECHATPAY_PLATFORM_PUBLIC_KEY_PATH = ""
    settings.WECHATPAY_PLATFORM_PUBLIC_KEY_ID = ""
    settings.WECHATPAY_APIV3_KEY = config.wechat_apiv3_key
    settings.ALIPAY_GATEWAY_URL = f"{config.public_url}/alipay/gateway.do"
    settings.ALIPAY_APP_ID = config.alipay_app_id
    settings.ALIPAY_SELLER_ID = config.alipay_seller_id
    settings.ALIPAY_PRIVATE_KEY_PATH = str(payment_keys / "alipay_app_private.pem")
    settings.ALIPAY_PUBLIC_KEY_PATH = str(payment_keys / "alipay_public.pem")
    yield gateway
    server.shutdown()
    server.server_close()


@pytest.fixture
def wrong_keys(tmp_path_factory):
    """A second, unrelated set of keys: what an attacker (or a misconfiguration) signs with."""
    return ensure_sandbox_keys(tmp_path_factory.mktemp("wrong-keys"))


@pytest.fixture
def start_payment(sandbox):
    """Open a payment through the real service and the sandbox (real signed HTTP)."""
    from apps.core.numbers import next_number
    from apps.payments.services import payment_start

    def start(*, provider="wechat", amount="100.00", order_no=None):
        return payment_start(
            order_no=order_no or next_number(),
            amount=Decimal(amount),
            provider=provider,
            description="test order",
            actor="test",
        ).payment

    return start


@pytest.fixture
def post_notification(client):
    """Deliver a notification the sandbox built to our callback endpoint, as the provider would."""

    def post(provider: str, headers: dict, body: bytes):
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k.lower() != "content-type"}
        return client.generic(
            "POST",
            f"/api/v1/payments/callbacks/{provider}",
            body,
            content_type=headers.get("Content-Type", "application/json"),
            **extra,
        )

    return post


@pytest.fixture
def paid_payment(sandbox, start_payment):
    """A payment the buyer paid at the sandbox and whose signed callback we applied."""
    from apps.payments.services import payment_notification_handle

    def pay(*, provider="wechat", amount="100.00", order_no=None):
        payment = start_payment(provider=provider, amount=amount, order_no=order_no)
        headers, body = sandbox.pay(payment.out_trade_no, notify=False)
        reply = payment_notification_handle(provider=provider, headers=headers, body=body)
        assert reply.status == 200
        payment.refresh_from_db()
        return payment

    return pay
