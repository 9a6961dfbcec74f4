"""Signatures and encryption with real generated keys, through the provider strategies."""

import base64
import time
from decimal import Decimal

import pytest

from apps.payments.providers import crypto, get_provider
from apps.payments.providers.alipay import signing_content
from apps.payments.providers.base import NotificationInvalid, ProviderRefused, SignatureInvalid, TradeState
from apps.payments.sandbox.gateway import SandboxConfig, SandboxGateway, Trade


@pytest.fixture
def gateway(payment_keys, sandbox):
    """The running sandbox with one WeChat and one Alipay trade, paid but not yet notified."""
    for provider, no in (("wechat", "T-WX-1"), ("alipay", "T-ALI-1")):
        sandbox.trades[no] = Trade(
            provider=provider,
            out_trade_no=no,
            amount=Decimal("12.50"),
            description="x",
            notify_url="",
            transaction_id=f"TX-{no}",
        )
        sandbox.pay(no, notify=False)
    return sandbox


def test_wechat_notification_verifies_and_decrypts(gateway):
    headers, body = gateway.notification("T-WX-1")
    note = get_provider("wechat").parse_notification(headers=headers, body=body)
    assert note.trade.state == TradeState.PAID
    assert note.trade.amount == Decimal("12.50")
    assert note.trade.transaction_id == "TX-T-WX-1"


def test_wechat_tampered_body_is_refused(gateway):
    headers, body = gateway.notification("T-WX-1")
    tampered = body.replace(b'"summary": "', b'"summary": "x')
    with pytest.raises(SignatureInvalid):
        get_provider("wechat").parse_notification(headers=headers, body=tampered)


def test_wechat_signature_from_another_key_is_refused(gateway, wrong_keys):
    impostor = SandboxGateway(SandboxConfig(keys_dir=wrong_keys))
    impostor.trades = gateway.trades
    headers, body = impostor.notification("T-WX-1")
    with pytest.raises(SignatureInvalid, match="does not verify"):
        get_provider("wechat").parse_notification(headers=headers, body=body)


def test_wechat_unknown_platform_serial_is_refused(gateway):
    headers, body = gateway.notification("T-WX-1")
    with pytest.raises(SignatureInvalid, match="no platform key"):
        get_provider("wechat").parse_notification(headers={**headers, "Wechatpay-Serial": "OTHER"}, body=body)


def test_wechat_stale_timestamp_is_refused_even_when_signed(gateway):
    _headers, body = gateway.notification("T-WX-1")
    stale = str(int(time.time()) - 301)
    nonce = "n" * 32
    signature = crypto.rsa_sign(gateway.platform_private, f"{stale}\n{nonce}\n{body.decode()}\n".encode())
    headers = {
        "Wechatpay-Timestamp": stale,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": signature,
        "Wechatpay-Serial": gateway.config.wechat_platform_serial,
    }
    with pytest.raises(SignatureInvalid, match="off"):
        get_provider("wechat").parse_notification(headers=headers, body=body)


def test_aes_gcm_round_trip_and_tampered_ciphertext():
    key = "k" * 32
    sealed = crypto.aes_gcm_encrypt(key, nonce="abcdefabcdef", associated_data="transaction", plaintext=b"{}")
    assert crypto.aes_gcm_decrypt(key, nonce="abcdefabcdef", associated_data="transaction", ciphertext=sealed) == b"{}"
    raw = bytearray(base64.b64decode(sealed))
    raw[0] ^= 1
    with pytest.raises(crypto.DecryptionError):
        crypto.aes_gcm_decrypt(
            key, nonce="abcdefabcdef", associated_data="transaction", ciphertext=base64.b64encode(raw).decode()
        )
    with pytest.raises(crypto.DecryptionError):
        crypto.aes_gcm_decrypt(key, nonce="abcdefabcdef", associated_data="refund", ciphertext=sealed)


def test_wechat_resource_encrypted_with_another_apiv3_key_is_refused(gateway, settings):
    headers, body = gateway.notification("T-WX-1")
    settings.WECHATPAY_APIV3_KEY = "x" * 32
    with pytest.raises(NotificationInvalid, match="decrypt"):
        get_provider("wechat").parse_notification(headers=headers, body=body)


def test_alipay_signing_content_is_sorted_and_skips_sign_and_empty_values():
    params = {"b": "2", "a": "1", "sign": "S", "sign_type": "RSA2", "empty": ""}
    assert signing_content(params) == b"a=1&b=2&sign_type=RSA2"
    assert signing_content(params, exclude=("sign", "sign_type")) == b"a=1&b=2"


def test_alipay_notification_verifies(gateway):
    headers, body = gateway.notification("T-ALI-1")
    note = get_provider("alipay").parse_notification(headers=headers, body=body)
    assert (note.trade.state, note.trade.amount) == (TradeState.PAID, Decimal("12.50"))


def test_alipay_tampered_amount_is_refused(gateway):
    headers, body = gateway.notification("T-ALI-1")
    with pytest.raises(SignatureInvalid):
        get_provider("alipay").parse_notification(
            headers=headers, body=body.replace(b"total_amount=12.50", b"total_amount=0.01")
        )


def test_alipay_wrong_key_is_refused(gateway, wrong_keys):
    impostor = SandboxGateway(SandboxConfig(keys_dir=wrong_keys))
    impostor.trades = gateway.trades
    headers, body = impostor.notification("T-ALI-1")
    with pytest.raises(SignatureInvalid):
        get_provider("alipay").parse_notification(headers=headers, body=body)


@pytest.mark.parametrize("field", ["alipay_app_id", "alipay_seller_id"])
def test_alipay_notification_for_another_app_or_seller_is_refused(gateway, field):
    setattr(gateway.config, field, "2088999999999999")
    headers, body = gateway.notification("T-ALI-1")
    with pytest.raises(NotificationInvalid):
        get_provider("alipay").parse_notification(headers=headers, body=body)


def test_gateway_refuses_requests_signed_with_another_merchant_key(sandbox, settings, wrong_keys):
    settings.WECHATPAY_PRIVATE_KEY_PATH = str(wrong_keys / "wechat_merchant_private.pem")
    with pytest.raises(ProviderRefused) as excinfo:
        get_provider("wechat").query_payment(out_trade_no="nothing")
    assert excinfo.value.code == "SIGN_ERROR"
