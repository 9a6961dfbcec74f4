"""Customer service opens an after-sale from the admin for a buyer who phoned."""

import threading
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.urls import reverse

from apps.aftersales.models import AfterSale
from apps.aftersales.services.aftersales import AfterSaleLineInput, aftersale_create
from tests.aftersales.factories import deliver, pay, place_order

pytestmark = pytest.mark.django_db

ADD_URL = "admin:aftersales_aftersale_add"


@pytest.fixture
def clerk(client):
    """Customer service allowed to see and open after-sales, nothing more."""
    user = User.objects.create_user("cs-anna", password="x", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="view_aftersale"), Permission.objects.get(codename="add_aftersale")
    )
    client.force_login(user)
    return client


@pytest.fixture
def order(shop, shirt, jeans):
    return deliver(pay(place_order(shop, [(shirt, 2, "50.00"), (jeans, 1, "80.00")])))


def _post(client, order, *, type, amount="", lines=None, reason="Called in: wrong size", notes="", submission=None):
    data = {
        "order_no": order.order_no,
        "submission": submission or uuid.uuid4().hex,
        "type": type,
        "reason": reason,
        "notes": notes,
        "amount": amount,
    }
    for line in order.lines.all():
        quantity, exchange = (lines or {}).get(line.sku_code, (0, ""))
        data[f"quantity_{line.pk}"] = quantity
        data[f"exchange_{line.pk}"] = exchange
    return client.post(reverse(ADD_URL), data)


@pytest.mark.parametrize(
    ("type", "amount", "quantity", "requested"),
    [
        ("refund_only", "30.00", 0, Decimal("30.00")),
        ("return_refund", "100.00", 2, Decimal("100.00")),
        ("exchange", "", 1, Decimal("0.00")),
        ("reissue", "", 1, Decimal("0.00")),
    ],
)
def test_staff_open_each_type_with_lines_and_amount(clerk, order, shirt, jeans, type, amount, quantity, requested):
    exchange = jeans.code if type == "exchange" else ""
    response = _post(clerk, order, type=type, amount=amount, lines={shirt.code: (quantity, exchange)}, notes="Call #7")

    aftersale = AfterSale.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:aftersales_aftersale_change", args=[aftersale.pk])
    assert (aftersale.order_id, aftersale.type, aftersale.source) == (order.pk, type, "staff")
    assert aftersale.requested_amount == requested
    assert (aftersale.reason, aftersale.notes, aftersale.created_by) == (
        "Called in: wrong size",
        "Call #7",
        "admin:cs-anna",
    )
    assert [(line.order_line.sku_code, line.quantity, line.exchange_sku_id) for line in aftersale.lines.all()] == (
        [(shirt.code, quantity, jeans.pk if exchange else None)] if quantity else []
    )
    assert aftersale.logs.get(from_status="").operator == "admin:cs-anna"
    page = clerk.get(response["Location"])
    assert aftersale.aftersale_no in " ".join(str(m) for m in page.context["messages"])


def test_over_return_is_refused_on_the_form_and_nothing_is_created(clerk, order, shirt):
    aftersale_create(
        order_no=order.order_no,
        type="return_refund",
        lines=[AfterSaleLineInput(order.lines.get(sku_code=shirt.code).pk, 1)],
        amount=Decimal("50.00"),
        reason="First call",
        source="buyer",
        actor="buyer",
    )

    response = _post(clerk, order, type="return_refund", amount="100.00", lines={shirt.code: (2, "")}, submission="s1")

    assert response.status_code == 200
    assert "More items than were bought and not yet claimed by another after-sale." in response.content.decode()
    assert AfterSale.objects.count() == 1
    row = next(row for row in response.context["rows"] if row["line"].sku_code == shirt.code)
    assert (row["line"].quantity, row["returnable"]) == (2, 1)

    corrected = _post(clerk, order, type="return_refund", amount="50.00", lines={shirt.code: (1, "")}, submission="s1")
    assert corrected.status_code == 302
    assert AfterSale.objects.filter(source="staff").count() == 1


def test_over_refund_and_unknown_exchange_sku_are_refused_on_the_form(clerk, order, shirt):
    too_much = _post(clerk, order, type="refund_only", amount="180.01")
    assert "still refundable" in too_much.content.decode()

    unknown = _post(clerk, order, type="exchange", lines={shirt.code: (1, "NO-SUCH-SKU")})
    assert "No SKU has this code." in unknown.content.decode()
    assert not AfterSale.objects.exists()


def test_a_user_without_the_add_permission_is_refused(client, order, shirt):
    viewer = User.objects.create_user("cs-viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_aftersale"))
    client.force_login(viewer)

    assert client.get(reverse(ADD_URL) + f"?order_no={order.order_no}").status_code == 403
    assert _post(client, order, type="refund_only", amount="10.00").status_code == 403
    assert not AfterSale.objects.exists()
    changelist = client.get(reverse("admin:aftersales_aftersale_changelist")).content.decode()
    assert reverse(ADD_URL) not in changelist


def test_the_changelist_links_to_the_form_and_order_no_prefills_the_order(clerk, order, shirt):
    changelist = clerk.get(reverse("admin:aftersales_aftersale_changelist")).content.decode()
    assert reverse(ADD_URL) in changelist

    first_step = clerk.get(reverse(ADD_URL))
    assert 'name="order_no"' in first_step.content.decode()
    assert "rows" not in first_step.context

    page = clerk.get(reverse(ADD_URL) + f"?order_no={order.order_no}")
    assert page.status_code == 200
    assert page.context["form"]["order_no"].value() == order.order_no
    assert [(row["line"].sku_code, row["line"].quantity, row["returnable"]) for row in page.context["rows"]] == [
        (line.sku_code, line.quantity, line.quantity) for line in order.lines.all()
    ]
    assert shirt.code in page.content.decode()

    missing = clerk.get(reverse(ADD_URL) + "?order_no=NOPE")
    assert "Order NOPE does not exist." in missing.content.decode()
    assert "rows" not in missing.context


def test_the_same_form_sent_twice_opens_one_after_sale(clerk, order):
    first = _post(clerk, order, type="refund_only", amount="30.00", submission="form-1")
    again = _post(clerk, order, type="refund_only", amount="30.00", submission="form-1")

    aftersale = AfterSale.objects.get()
    assert first["Location"] == again["Location"] == reverse("admin:aftersales_aftersale_change", args=[aftersale.pk])
    page = clerk.get(again["Location"])
    assert any("already sent" in str(m) for m in page.context["messages"])


@pytest.mark.django_db(transaction=True)
def test_a_double_click_at_the_same_moment_opens_one_after_sale(shop, shirt, jeans):
    order = deliver(pay(place_order(shop, [(shirt, 2, "50.00")])))
    user = User.objects.create_superuser("cs-bob", password="x")
    barrier = threading.Barrier(2)
    statuses = []

    def click():
        client = Client()
        client.force_login(user)
        barrier.wait()
        try:
            statuses.append(_post(client, order, type="refund_only", amount="30.00", submission="click").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [302, 302]
    assert AfterSale.objects.count() == 1
