"""Customer service without ``orders.view_personal_data`` never sees who bought: the after-sale
page, the add form (order lines of a chosen order) and the work-order pages."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from apps.aftersales.models import AfterSaleSource, AfterSaleType
from apps.aftersales.services.aftersales import aftersale_create
from apps.aftersales.services.workorders import workorder_create
from tests.aftersales.factories import deliver, pay, place_order

pytestmark = pytest.mark.django_db

CS_PERMISSIONS = (
    "view_aftersale",
    "add_aftersale",
    "view_aftersaleline",
    "view_aftersalelog",
    "view_workorder",
    "add_workorder",
    "change_workorder",
    "view_workordercomment",
)


def _staff(username: str, *codenames: str) -> Client:
    user = User.objects.create_user(username, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def pages(shop, shirt):
    order = deliver(pay(place_order(shop, [(shirt, 2, "50.00")])))
    aftersale = aftersale_create(
        order_no=order.order_no,
        type=AfterSaleType.REFUND_ONLY,
        lines=[],
        amount=Decimal("10.00"),
        reason="Called in: late parcel",
        source=AfterSaleSource.STAFF,
        actor="test",
    )
    ticket = workorder_create(
        title="Late parcel",
        description="Buyer called",
        category="logistics",
        priority="normal",
        order_no=order.order_no,
        aftersale_no=aftersale.aftersale_no,
        assignee_id=None,
        actor="test",
    )
    urls = [
        reverse("admin:aftersales_aftersale_changelist"),
        reverse("admin:aftersales_aftersale_change", args=[aftersale.pk]),
        f"{reverse('admin:aftersales_aftersale_add')}?order_no={order.order_no}",
        reverse("admin:aftersales_workorder_changelist"),
        reverse("admin:aftersales_workorder_change", args=[ticket.pk]),
        reverse("admin:aftersales_workorder_add"),
    ]
    personal = [order.recipient_phone, order.address, order.recipient_name, order.buyer_id]
    return urls, personal, order


def test_no_personal_data_on_after_sale_and_work_order_pages_without_the_permission(pages):
    urls, personal, order = pages
    clerk = _staff("cs-anna", *CS_PERMISSIONS)

    for url in urls:
        response = clerk.get(url)
        page = response.content.decode()
        assert response.status_code == 200, url
        assert order.order_no in page or url.endswith("/add/"), url
        assert [value for value in personal if value in page] == [], url


def test_the_after_sale_page_shows_the_recipient_with_the_permission(pages):
    urls, _personal, order = pages
    lead = _staff("cs-lead", *CS_PERMISSIONS, "view_personal_data")

    page = lead.get(urls[1]).content.decode()

    assert order.recipient_phone in page and order.address in page
