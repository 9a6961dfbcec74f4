"""The channels console: payload viewer masking, retry/ignore actions, write-only secrets."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from apps.channels.models import RawOrder
from apps.channels.services import raw_orders_receive
from tests.channels.conftest import platform_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def raw_order(make_shop):
    ps = make_shop("tmall")
    raw_orders_receive(shop=ps.shop, payloads=[platform_order(ps, "A1")], actor="test")
    return RawOrder.objects.get()


def _staff(django_user_model, username, *perms):
    user = django_user_model.objects.create_user(username, password="x", is_staff=True)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


def test_the_payload_viewer_masks_phones_without_the_permission(django_user_model, raw_order):
    client = _staff(django_user_model, "clerk", "view_raworder")
    page = client.get(f"/admin/channels/raworder/{raw_order.pk}/change/").content.decode()
    assert "13800138000" not in page
    assert "WAIT_SELLER_SEND_GOODS" in page

    client = _staff(django_user_model, "lead", "view_raworder", "view_personal_data")
    page = client.get(f"/admin/channels/raworder/{raw_order.pk}/change/").content.decode()
    assert "13800138000" in page


def test_ignore_and_retry_actions_change_the_status(admin_client, raw_order):
    url = "/admin/channels/raworder/"
    admin_client.post(url, {"action": "ignore", "_selected_action": [raw_order.pk]})
    assert RawOrder.objects.get().status == RawOrder.Status.IGNORED

    admin_client.post(url, {"action": "retry", "_selected_action": [raw_order.pk]})
    assert RawOrder.objects.get().status == RawOrder.Status.PENDING


def test_the_secret_is_write_only_and_stored_encrypted(admin_client, make_shop):
    shop = make_shop("jd").shop
    page = admin_client.get(f"/admin/shops/shop/{shop.pk}/change/").content.decode()
    assert "s3cret-jd" not in page
    assert shop.app_secret_encrypted not in page


@pytest.mark.parametrize("platform", ["tmall", "jd", "douyin", "wechat"])
def test_the_payload_viewer_masks_the_buyer_id_without_the_permission(django_user_model, make_shop, platform):
    """Tmall's buyer_nick / buyer_open_uid, JD's pin, Douyin's doudian_open_id, WeChat's openid."""
    ps = make_shop(platform)
    raw_orders_receive(shop=ps.shop, payloads=[platform_order(ps, "B1", buyer="nick-zhang-7788")], actor="test")
    url = f"/admin/channels/raworder/{RawOrder.objects.get().pk}/change/"

    page = _staff(django_user_model, "clerk", "view_raworder").get(url).content.decode()
    assert "nick-zhang-7788" not in page
    assert "文三路" not in page and "13800138000" not in page

    page = _staff(django_user_model, "lead", "view_raworder", "view_personal_data").get(url).content.decode()
    assert "nick-zhang-7788" in page
