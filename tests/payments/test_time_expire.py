"""The trade opened at the provider expires at the order's payment deadline (``time_expire``),
so a QR code stops taking money when we stop accepting it, even if our close never arrives."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from apps.core.exceptions import Conflict
from apps.payments.models import Payment
from apps.payments.services import payment_start

pytestmark = pytest.mark.django_db
DEADLINE = datetime(2099, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def start(provider: str, *, order_no: str, expires_at: datetime | None) -> Payment:
    return payment_start(
        order_no=order_no,
        amount=Decimal("10.00"),
        provider=provider,
        description="test order",
        actor="test",
        expires_at=expires_at,
    ).payment


@pytest.mark.parametrize(
    ("provider", "sent"),
    [("wechat", "2099-01-02T11:04:05+08:00"), ("alipay", "2099-01-02 11:04:05")],
)
def test_the_order_deadline_is_sent_as_time_expire(sandbox, provider, sent):
    payment = start(provider, order_no=f"EXP-{provider}", expires_at=DEADLINE)

    assert sandbox.trades[payment.out_trade_no].time_expire == sent


@pytest.mark.parametrize("provider", ["wechat", "alipay"])
def test_without_an_order_deadline_the_payment_deadline_is_sent(sandbox, settings, provider):
    settings.PAYMENT_DEADLINE_MINUTES = 15
    before = timezone.now()

    payment = start(provider, order_no=f"EXP-DEFAULT-{provider}", expires_at=None)

    sent = sandbox.trades[payment.out_trade_no].time_expire
    shanghai = ZoneInfo("Asia/Shanghai")
    if provider == "wechat":
        expires = datetime.fromisoformat(sent)
        assert sent.endswith("+08:00")
    else:
        expires = datetime.strptime(sent, "%Y-%m-%d %H:%M:%S").replace(tzinfo=shanghai)
    expected = before + timedelta(minutes=15)
    assert expected - timedelta(seconds=1) <= expires <= expected + timedelta(seconds=5)


def test_a_deadline_already_passed_opens_no_trade(sandbox):
    with pytest.raises(Conflict) as caught:
        start("alipay", order_no="EXP-PAST", expires_at=timezone.now() - timedelta(seconds=1))

    assert caught.value.code == "order_not_payable"
    assert not Payment.objects.exists()
    assert sandbox.trades == {}
