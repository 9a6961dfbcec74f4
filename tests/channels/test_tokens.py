"""Platform access tokens: the daily expiry check and the write-only admin field."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.channels.schedules import BEAT_SCHEDULE
from apps.channels.services import access_tokens_check_expiry, shop_set_access_token
from apps.channels.tasks import access_tokens_check_expiry_task
from apps.core.models import Alert
from apps.shops.models import Shop
from tests.channels.factories import ShopFactory

pytestmark = pytest.mark.django_db


def _expiring(days: float, **fields) -> Shop:
    shop = ShopFactory(**fields)
    shop_set_access_token(
        shop=shop, token=f"tok-{shop.code}", expires_at=timezone.now() + timedelta(days=days), actor="test"
    )
    return shop


def test_a_token_expiring_within_three_days_raises_one_alert_until_a_new_one_is_stored():
    soon = _expiring(2, platform="jd")
    _expiring(10, platform="tmall")
    _expiring(1, platform="douyin", is_active=False)
    _expiring(1, platform="own")

    assert access_tokens_check_expiry_task.apply().get() == 1
    access_tokens_check_expiry(actor="test")  # the next day: still one alert, counted again

    alert = Alert.objects.get(kind="channel_token_expiry")
    assert alert.is_open and alert.occurrences == 2
    assert soon.code in alert.message
    assert alert.severity == Alert.Severity.WARNING

    shop_set_access_token(shop=soon, token="renewed", expires_at=timezone.now() + timedelta(days=30), actor="test")
    alert.refresh_from_db()
    assert not alert.is_open
    assert access_tokens_check_expiry(actor="test") == []


def test_an_expired_token_is_an_error_alert():
    shop = _expiring(-1, platform="wechat")

    assert access_tokens_check_expiry(actor="test") == [shop.pk]

    assert Alert.objects.get(kind="channel_token_expiry").severity == Alert.Severity.ERROR


def test_the_check_runs_daily_from_beat():
    entry = BEAT_SCHEDULE["channels.access_tokens_check_expiry"]
    assert entry["task"] == access_tokens_check_expiry_task.name
    assert entry["schedule"].hour == {9} and entry["schedule"].minute == {7}


def test_the_token_is_write_only_in_the_admin_and_stored_encrypted(admin_client):
    shop = ShopFactory(platform="jd", access_token="")
    url = f"/admin/shops/shop/{shop.pk}/change/"
    form = {
        "code": shop.code,
        "name": shop.name,
        "platform": "jd",
        "app_key": shop.app_key,
        "is_active": "on",
        "pull_interval_minutes": "10",
        "stock_sync_ratio": "1",
        "safety_stock": "0",
        "pull_runs-TOTAL_FORMS": "0",
        "pull_runs-INITIAL_FORMS": "0",
        "new_access_token": "jd-seller-token-123",
        "new_access_token_expires_at": "2031-01-02 03:04",
    }

    response = admin_client.post(url, form)

    assert response.status_code == 302
    shop.refresh_from_db()
    assert shop.access_token == "jd-seller-token-123"
    assert "jd-seller-token-123" not in shop.access_token_encrypted
    assert timezone.localtime(shop.access_token_expires_at).strftime("%Y-%m-%d %H:%M") == "2031-01-02 03:04"
    page = admin_client.get(url).content.decode()
    assert "jd-seller-token-123" not in page
    assert shop.access_token_encrypted not in page

    form.update(new_access_token="", new_access_token_expires_at="2032-01-01 00:00")
    response = admin_client.post(url, form)
    assert response.status_code == 200  # an expiry alone is refused
    shop.refresh_from_db()
    assert shop.access_token == "jd-seller-token-123"
