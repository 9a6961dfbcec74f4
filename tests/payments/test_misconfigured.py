"""A payment provider missing or misconfigured: the deploy check names the setting, starting a
payment answers 503 and writes nothing, /readyz says so, beat jobs log it once per run, and the
outbox gives up on its deliveries at once with one alert."""

import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils import timezone

from apps.core.models import Alert, OutboxDelivery
from apps.core.outbox import outbox_relay
from apps.payments.models import Payment, PaymentNotification, PaymentStatus, Refund
from apps.payments.services import (
    payment_close_for_order,
    payments_query_open,
    refund_request,
    refunds_process_due,
)
from tests.conftest import SignedClient
from tests.payments.factories import SHOP_SECRET, OrderFactory

MISCONFIGURATIONS = {
    "no private key file": ("WECHATPAY_PRIVATE_KEY_PATH", "/nonexistent/apiclient_key.pem"),
    "APIv3 key of the wrong length": ("WECHATPAY_APIV3_KEY", "too-short"),
    "no platform certificate": ("WECHATPAY_PLATFORM_CERTS_DIR", ""),
    "no Alipay public key": ("ALIPAY_PUBLIC_KEY_PATH", "/nonexistent/alipay_public.pem"),
}


@pytest.mark.parametrize(("setting", "value"), MISCONFIGURATIONS.values(), ids=MISCONFIGURATIONS.keys())
def test_check_deploy_fails_naming_the_setting(sandbox, settings, setting, value):
    setattr(settings, setting, value)

    with pytest.raises(SystemCheckError, match=rf"payments\.E002.*{setting}|{setting}.*payments\.E002"):
        call_command("check", "--deploy")


def test_check_deploy_passes_with_both_providers_configured(sandbox):
    call_command("check", "--deploy", "--fail-level", "ERROR")


def test_the_platform_public_key_may_replace_the_certificates_folder(sandbox, settings, payment_keys):
    settings.WECHATPAY_PLATFORM_CERTS_DIR = ""
    settings.WECHATPAY_PLATFORM_PUBLIC_KEY_ID = "PUB_KEY_ID_0001"
    settings.WECHATPAY_PLATFORM_PUBLIC_KEY_PATH = str(payment_keys / "wechat_platform_public.pem")

    call_command("check", "--deploy", "--fail-level", "ERROR")


@pytest.mark.django_db
def test_starting_a_payment_answers_503_and_leaves_no_payment(sandbox, settings):
    settings.WECHATPAY_APIV3_KEY = "too-short"
    order = OrderFactory(payable_amount=Decimal("50.00"))

    response = SignedClient(order.shop, SHOP_SECRET).post(
        f"/api/v1/orders/{order.order_no}/payments", {"provider": "wechat"}
    )

    assert response.status_code == 503
    assert response.json()["code"] == "provider_unavailable"
    assert response.json()["details"] == {"provider": "wechat"}
    assert "WECHATPAY" not in response.content.decode()  # settings stay in the log
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_readyz_shows_the_misconfigured_provider(sandbox, settings, client):
    settings.ALIPAY_PRIVATE_KEY_PATH = "/nonexistent/alipay_app_private.pem"

    body = client.get("/readyz").json()

    assert body["checks"]["payment_providers"] == {
        "status": "degraded",
        "required": False,
        "details": {"wechat": "ok", "alipay": "misconfigured"},
    }
    assert body["status"] == "degraded"


@pytest.mark.django_db
def test_beat_jobs_log_a_misconfigured_provider_once_per_run_without_traceback(
    sandbox, start_payment, paid_payment, settings, caplog
):
    settings.PAYMENT_QUERY_AFTER_MINUTES = 0
    open_payments = [start_payment(provider="wechat") for _ in range(3)]
    paid = paid_payment(provider="wechat", amount="30.00")
    refund = refund_request(
        out_trade_no=paid.out_trade_no, amount=Decimal("30.00"), reason="test", reference="R1", actor="t"
    )
    Refund.objects.filter(pk=refund.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    settings.WECHATPAY_PRIVATE_KEY_PATH = "/nonexistent/apiclient_key.pem"

    with caplog.at_level(logging.WARNING):
        counts = payments_query_open(actor="beat")
        processed = refunds_process_due(actor="beat")

    assert counts == {"skipped": len(open_payments)}
    assert processed == 0
    refund.refresh_from_db()
    assert refund.status == "requested"  # waits for the fix; no attempt used up
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 2  # one line per job run
    assert all("WECHATPAY_PRIVATE_KEY_PATH" in r.getMessage() for r in problems)
    assert all(r.exc_info is None for r in problems)


@pytest.mark.django_db
def test_outbox_deliveries_of_a_misconfigured_provider_fail_at_once_with_one_alert(sandbox, start_payment, settings):
    payments = [start_payment(provider="alipay") for _ in range(3)]
    for payment in payments:
        payment_close_for_order(order_no=payment.order_no)
    settings.ALIPAY_PUBLIC_KEY_PATH = ""

    outbox_relay()

    closes = OutboxDelivery.objects.filter(consumer="payments.provider_close")
    assert sorted(closes.values_list("status", "attempts")) == [("failed", 1)] * 3
    alert = Alert.objects.get(kind="outbox_delivery_failed")
    assert alert.details["consumer"] == "payments.provider_close"
    assert alert.occurrences == 3
    assert "ALIPAY_PUBLIC_KEY_PATH" in alert.message
    assert Payment.objects.filter(status=PaymentStatus.CLOSED).count() == 3


@pytest.mark.django_db
def test_a_callback_while_misconfigured_is_kept_answered_503_and_applied_once_fixed(
    sandbox, start_payment, post_notification, settings
):
    payment = start_payment(provider="wechat", amount="20.00")
    headers, body = sandbox.pay(payment.out_trade_no, notify=False)
    good_key = settings.WECHATPAY_APIV3_KEY
    settings.WECHATPAY_APIV3_KEY = "too-short"

    refused = post_notification("wechat", headers, body)
    payment.refresh_from_db()
    status_while_misconfigured = payment.status
    settings.WECHATPAY_APIV3_KEY = good_key
    retried = post_notification("wechat", headers, body)

    assert refused.status_code == 503  # the provider sends it again later
    assert status_while_misconfigured == PaymentStatus.CREATED
    assert retried.status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert list(PaymentNotification.objects.order_by("id").values_list("outcome", flat=True)) == [
        "misconfigured",
        "paid",
    ]
