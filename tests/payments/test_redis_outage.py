"""Redis down while a provider's callback commits a payment: the provider gets its success
reply (never a 500 after the commit), and its retry is applied as a duplicate, once."""

import json

import pytest
from django.test import override_settings

from apps.core.models import OutboxEvent
from apps.payments.models import PaymentNotification, PaymentStatus

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_callback_that_commits_while_redis_is_down_answers_success_and_applies_once(
    own_redis, sandbox, start_payment, post_notification
):
    payment = start_payment(provider="wechat", amount="66.00")
    headers, body = sandbox.pay(payment.out_trade_no, notify=False)

    with override_settings(CACHES=own_redis.cache_settings()):
        own_redis.kill()
        try:
            first = post_notification("wechat", headers, body)
            retry = post_notification("wechat", headers, body)
        finally:
            own_redis.start()

    assert first.status_code == retry.status_code == 200
    assert json.loads(first.content)["code"] == json.loads(retry.content)["code"] == "SUCCESS"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert OutboxEvent.objects.filter(topic="payment.succeeded").count() == 1
    outcomes = list(PaymentNotification.objects.order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["paid", "duplicate"]
