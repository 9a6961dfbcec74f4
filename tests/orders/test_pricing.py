"""The OMS prices storefront orders (issue: prices the OMS sets): list or shop prices, a
stated price must match, discounts within the shop's policy, one field name for a discount,
unknown fields refused, at most N unpaid orders per buyer; platform orders keep their prices
but one paid far below ours is held for audit."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.models import OutboxEvent
from apps.inventory.models import Reservation, StockMovement
from apps.orders.models import Order, OrderLine, OrderStatus, ShopDiscountPolicy, ShopPrice
from apps.orders.services import PaidInput, order_audit, order_cancel, order_create
from apps.orders.services.audit_batch import orders_audit_batch
from tests.orders.factories import RECIPIENT_BODY as RECIPIENT
from tests.orders.factories import SkuFactory, line, receive, recipient, stock_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def tea(warehouse):
    """Listed at 99.00."""
    sku = SkuFactory(price=Decimal("99.00"))
    receive(sku, warehouse, 50)
    return sku


def _body(*lines, **overrides):
    return {"buyer_id": "buyer-7", "lines": list(lines), "recipient": RECIPIENT, **overrides}


def _written():
    return (
        Order.objects.count(),
        OrderLine.objects.count(),
        Reservation.objects.count(),
        StockMovement.objects.count(),
        OutboxEvent.objects.count(),
    )


def test_a_storefront_line_is_priced_at_the_list_price(signed, tea):
    response = signed.post("/api/v1/orders", _body({"sku_code": tea.code, "quantity": 2}))
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["lines"][0]["unit_price"] == "99.00"
    assert data["payable_amount"] == "198.00"  # free shipping from 99.00


def test_a_shop_price_set_by_staff_wins_over_the_list_price(signed, shop, tea):
    ShopPrice.objects.create(shop=shop, sku=tea, price=Decimal("79.00"))
    response = signed.post("/api/v1/orders", _body({"sku_code": tea.code, "quantity": 1, "unit_price": "79.00"}))
    assert response.status_code == 201, response.json()
    assert response.json()["lines"][0]["unit_price"] == "79.00"
    assert Order.objects.get(order_no=response.json()["order_no"]).total_amount == Decimal("79.00")


def test_a_stated_price_that_differs_is_422_naming_each_line_and_writes_nothing(signed, shop, tea, sku, warehouse):
    ShopPrice.objects.create(shop=shop, sku=sku, price=Decimal("45.00"))
    before = _written()
    response = signed.post(
        "/api/v1/orders",
        _body(
            {"sku_code": tea.code, "quantity": 1, "unit_price": "0.01"},
            {"sku_code": sku.code, "quantity": 1, "unit_price": "50.00"},
        ),
    )
    assert response.status_code == 422
    data = response.json()
    assert data["code"] == "price_mismatch"
    assert data["details"]["lines"] == [
        {"index": 0, "sku_code": tea.code, "unit_price": "0.01", "price": "99.00"},
        {"index": 1, "sku_code": sku.code, "unit_price": "50.00", "price": "45.00"},
    ]
    assert _written() == before
    assert stock_of(tea, warehouse).reserved == 0


def test_a_changed_lines_body_with_a_stale_price_is_refused(signed, shop, tea):
    created = signed.post("/api/v1/orders", _body({"sku_code": tea.code, "quantity": 1}))
    order_no = created.json()["order_no"]
    response = signed.post(
        f"/api/v1/orders/{order_no}/lines", {"lines": [{"sku_code": tea.code, "quantity": 3, "unit_price": "9.90"}]}
    )
    assert (response.status_code, response.json()["code"]) == (422, "price_mismatch")
    assert Order.objects.get(order_no=order_no).total_amount == Decimal("99.00")


@pytest.mark.parametrize(
    "discounts",
    [{"discount_amount": "99.00"}, {"line_discount": "0.01"}],
    ids=["order discount", "line discount"],
)
def test_without_a_discount_policy_no_discount_is_allowed(signed, tea, discounts):
    before = _written()
    item = {"sku_code": tea.code, "quantity": 1}
    if "line_discount" in discounts:
        item["discount_amount"] = discounts.pop("line_discount")
    response = signed.post("/api/v1/orders", _body(item, **discounts))
    assert response.status_code == 422
    assert response.json()["code"] == "discount_not_allowed"
    assert _written() == before


def test_a_discount_within_the_shop_policy_is_granted_and_beyond_it_refused(signed, shop, tea):
    ShopDiscountPolicy.objects.create(shop=shop, max_rate=Decimal("0.1000"), max_amount=Decimal("15.00"))
    item = {"sku_code": tea.code, "quantity": 2, "discount_amount": "5.00"}  # goods 198.00: at most 15.00
    granted = signed.post("/api/v1/orders", _body(item, discount_amount="10.00"))
    assert granted.status_code == 201, granted.json()
    assert granted.json()["discount_amount"] == "10.00"
    assert granted.json()["lines"][0]["discount_amount"] == "5.00"
    assert granted.json()["payable_amount"] == "183.00"

    over_amount = signed.post("/api/v1/orders", _body(item, discount_amount="10.01"))
    assert (over_amount.status_code, over_amount.json()["code"]) == (422, "discount_not_allowed")
    one = {"sku_code": tea.code, "quantity": 1}  # goods 99.00: 10% is 9.90
    over_rate = signed.post("/api/v1/orders", _body(one, discount_amount="9.91"))
    assert (over_rate.status_code, over_rate.json()["code"]) == (422, "discount_not_allowed")
    assert Order.objects.count() == 1


def test_the_old_discount_field_name_is_an_unknown_field(signed, tea):
    before = _written()
    response = signed.post("/api/v1/orders", _body({"sku_code": tea.code, "quantity": 1}, discount="1.00"))
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_field"
    assert response.json()["details"]["fields"] == ["discount"]
    assert _written() == before


@pytest.mark.parametrize(
    ("change", "unknown"),
    [
        (lambda body: body.update(coupon="FREE"), ["coupon"]),
        (lambda body: body["lines"][0].update(price="1.00"), ["price"]),
        (lambda body: body.update(recipient={**RECIPIENT, "zip": "200000"}), ["zip"]),
    ],
    ids=["order", "line", "recipient"],
)
def test_an_unknown_field_in_a_create_body_is_400_and_writes_nothing(signed, tea, change, unknown):
    body = _body({"sku_code": tea.code, "quantity": 1})
    change(body)
    before = _written()
    response = signed.post("/api/v1/orders", body)
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["details"]["fields"]) == ("unknown_field", unknown)
    assert _written() == before


def test_an_unknown_field_in_an_action_body_is_400_and_changes_nothing(signed, tea):
    order_no = signed.post("/api/v1/orders", _body({"sku_code": tea.code, "quantity": 1})).json()["order_no"]
    cancel = signed.post(f"/api/v1/orders/{order_no}/cancel", {"reason": "changed mind", "refund": "all"})
    remark = signed.post(f"/api/v1/orders/{order_no}/remark", {"remark": "x", "urgent": True})
    assert (cancel.status_code, cancel.json()["code"]) == (400, "unknown_field")
    assert (remark.status_code, remark.json()["code"]) == (400, "unknown_field")
    order = Order.objects.get(order_no=order_no)
    assert (order.status, order.seller_remark) == (OrderStatus.PENDING_PAYMENT, "")


def test_a_buyer_holds_at_most_the_limit_of_unpaid_orders_per_shop(signed, tea, warehouse, settings):
    settings.ORDER_MAX_UNPAID_PER_BUYER = 2
    body = _body({"sku_code": tea.code, "quantity": 1})
    first = signed.post("/api/v1/orders", body)
    assert signed.post("/api/v1/orders", body).status_code == 201
    refused = signed.post("/api/v1/orders", body)
    assert refused.status_code == 409
    assert refused.json()["code"] == "too_many_unpaid_orders"
    assert stock_of(tea, warehouse).reserved == 2
    assert signed.post("/api/v1/orders", {**body, "buyer_id": "someone-else"}).status_code == 201

    order_cancel(order_no=first.json()["order_no"], actor="test", reason="")
    assert signed.post("/api/v1/orders", body).status_code == 201


def _platform_order(shop, sku, platform_order_id: str, price: str):
    """A paid platform order of one ``sku`` at the platform's ``price``."""
    return order_create(
        shop=shop,
        buyer_id=f"tb-{platform_order_id}",
        lines=[line(sku, 1, price)],
        recipient=recipient(),
        platform_order_id=platform_order_id,
        paid=PaidInput(amount=Decimal(price), paid_at=timezone.now() - timedelta(minutes=5), method="tmall"),
        actor="test",
    )


def test_a_platform_order_keeps_its_price_but_one_paid_far_below_ours_is_held(shop, tea, settings):
    settings.AUDIT_HOLD_ON_BUYER_MESSAGE = False
    settings.AUDIT_PRICE_ANOMALY_SHARE = "0.30"

    def platform_order(platform_order_id: str, price: str):
        order = _platform_order(shop, tea, platform_order_id, price)
        assert order.written_lines[0].unit_price == Decimal(price)  # the platform's price stays
        return order_audit(order_no=order.order_no, actor="test")

    within = platform_order("P-1", "69.30")  # 30% below 99.00: allowed
    below = platform_order("P-2", "69.29")
    assert within.status == OrderStatus.PENDING_SHIPMENT
    assert below.status == OrderStatus.ON_HOLD
    assert [reason["code"] for reason in below.hold_reasons] == ["price_anomaly"]


def test_the_batch_audit_holds_platform_orders_paid_far_below_the_shop_price(shop, tea, settings):
    settings.AUDIT_HOLD_ON_BUYER_MESSAGE = False
    settings.AUDIT_PRICE_ANOMALY_SHARE = "0.30"
    ShopPrice.objects.create(shop=shop, sku=tea, price=Decimal("80.00"))  # the shop's own price, not 99.00

    # 30% below 80.00, and a cent more
    within, below = (
        _platform_order(shop, tea, "B-1", "56.00").order_no,
        _platform_order(shop, tea, "B-2", "55.99").order_no,
    )
    orders_audit_batch(order_nos=[within, below], actor="test")

    assert Order.objects.get(order_no=within).status == OrderStatus.PENDING_SHIPMENT
    held = Order.objects.get(order_no=below)
    assert held.status == OrderStatus.ON_HOLD
    assert [reason["code"] for reason in held.hold_reasons] == ["price_anomaly"]
