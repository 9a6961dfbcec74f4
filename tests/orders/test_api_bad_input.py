"""Bad input to the orders API is a 400 naming the problem, never a 500, and changes nothing."""

from decimal import Decimal

import pytest

from apps.core.exceptions import ApplicationError
from apps.core.models import OutboxEvent
from apps.inventory.models import Reservation
from apps.orders.models import Order, OrderLine
from tests.orders.factories import RECIPIENT_BODY as RECIPIENT
from tests.orders.factories import create_order

pytestmark = pytest.mark.django_db

TOP_PRICE = "9999999999.99"


def _counts():
    return (
        Order.objects.count(),
        OrderLine.objects.count(),
        Reservation.objects.count(),
        OutboxEvent.objects.count(),
    )


def _line(sku, quantity, price=TOP_PRICE):
    return {"sku_code": sku.code, "quantity": quantity, "unit_price": price}


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        (lambda sku, other: [_line(sku, 500)], "quantity"),
        (lambda sku, other: [_line(sku, 1), _line(other, 1)], "lines"),
    ],
    ids=["line-total", "goods-total"],
)
def test_amounts_beyond_the_columns_are_a_400_naming_the_field(staff_client, sku, other_sku, lines, field):
    before = _counts()
    body = {"buyer_id": "buyer-9", "lines": lines(sku, other_sku), "recipient": RECIPIENT}
    response = staff_client.post("/api/v1/orders", body, format="json")
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["code"] == "validation_error"
    details = data["details"]
    assert field in (details["lines"]["0"] if field == "quantity" else details)
    assert _counts() == before


def test_a_payable_beyond_the_columns_is_refused_on_the_shipping_fee(sku):
    before = _counts()
    with pytest.raises(ApplicationError) as refused:
        create_order((sku, 1), shipping_fee=Decimal(TOP_PRICE))
    assert refused.value.code == "validation_error"
    assert "shipping_fee" in refused.value.extra
    assert _counts() == before


def test_changed_lines_beyond_the_columns_are_a_400_and_change_nothing(staff_client, sku, other_sku):
    order = create_order((sku, 1))
    before = _counts()
    response = staff_client.post(
        f"/api/v1/orders/{order.order_no}/lines", {"lines": [_line(sku, 1), _line(other_sku, 1)]}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"
    assert "lines" in response.json()["details"]
    assert _counts() == before
    order.refresh_from_db()
    assert [line.sku_id for line in order.lines.all()] == [sku.pk]


@pytest.mark.parametrize(
    "params",
    [
        {"created_after": "0001-01-01T00:00:00+14:00"},
        {"created_before": "9999-12-31T23:59:59-12:00"},
        {"created_after": "0001-01-01T00:00:00"},
    ],
)
def test_dates_that_leave_the_calendar_in_utc_are_a_400(staff_client, params):
    response = staff_client.get("/api/v1/orders", params)
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["code"] == "validation_error"
    assert set(data["details"]) == set(params)


def test_dates_far_apart_that_do_convert_still_filter(staff_client, sku):
    create_order((sku, 1))
    params = {"created_after": "0001-01-01T00:00:00Z", "created_before": "9999-12-31T00:00:00Z"}
    response = staff_client.get("/api/v1/orders", params)
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == 1
