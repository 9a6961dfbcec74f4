from decimal import Decimal

import pytest

from apps.core.exceptions import ApplicationError, Conflict
from apps.orders.models import Order
from apps.orders.services import order_change_lines, order_update_address, order_update_remark
from tests.orders.factories import create_order, line, pay, recipient, ship_ready, stock_of

pytestmark = pytest.mark.django_db


def _reload(order: Order) -> Order:
    return Order.objects.get(pk=order.pk)


def test_address_change_is_saved_and_logged(sku):
    order = pay(create_order((sku, 1)))
    order_update_address(
        order_no=order.order_no, recipient=recipient(address="新地址8号", phone="13600000000"), actor="cs"
    )
    order = _reload(order)
    assert (order.address, order.recipient_phone, order.version) == ("新地址8号", "13600000000", 2)
    assert order.status_logs.last().operator == "cs"


def test_address_cannot_change_once_the_wms_has_the_order(sku):
    order = pay(create_order((sku, 1)))
    ship_ready(order, fulfillment_status="sent_to_wms")
    with pytest.raises(Conflict) as raised:
        order_update_address(order_no=order.order_no, recipient=recipient(address="别处"), actor="cs")
    assert raised.value.code == "sent_to_wms"
    assert _reload(order).address == "世纪大道100号"


def test_an_incomplete_new_address_is_refused(sku):
    order = create_order((sku, 1))
    with pytest.raises(ApplicationError) as raised:
        order_update_address(order_no=order.order_no, recipient=recipient(phone=""), actor="cs")
    assert raised.value.code == "validation_error"
    assert _reload(order).recipient_phone == "13800138000"


def test_seller_remark_in_any_status(sku):
    order = pay(create_order((sku, 1)))
    order_update_remark(order_no=order.order_no, remark="fragile", actor="cs")
    assert _reload(order).seller_remark == "fragile"


def test_changing_lines_reprices_and_moves_the_reservations(sku, other_sku, warehouse):
    order = create_order((sku, 3))
    order_change_lines(order_no=order.order_no, lines=[line(sku, 1), line(other_sku, 2, "20.00")], actor="buyer")
    order = _reload(order)
    assert order.total_amount == Decimal("90.00")
    assert (order.shipping_fee, order.payable_amount) == (Decimal("10.00"), Decimal("100.00"))
    assert [(item.sku_id, item.quantity) for item in order.lines.all()] == [(sku.pk, 1), (other_sku.pk, 2)]
    assert (stock_of(sku, warehouse).reserved, stock_of(other_sku, warehouse).reserved) == (1, 2)


def test_a_line_change_without_stock_changes_nothing(sku, other_sku, warehouse):
    order = create_order((sku, 3))
    with pytest.raises(Conflict) as raised:
        order_change_lines(order_no=order.order_no, lines=[line(other_sku, 11)], actor="buyer")
    assert raised.value.code == "insufficient_stock"
    order = _reload(order)
    assert [(item.sku_id, item.quantity) for item in order.lines.all()] == [(sku.pk, 3)]
    assert (stock_of(sku, warehouse).reserved, stock_of(other_sku, warehouse).reserved) == (3, 0)
    assert order.payable_amount == Decimal("150.00")


def test_a_line_change_below_the_order_discount_is_refused(sku, other_sku, warehouse):
    order = create_order((sku, 3), discount_amount=Decimal("100.00"))
    with pytest.raises(ApplicationError) as raised:
        order_change_lines(order_no=order.order_no, lines=[line(other_sku, 1)], actor="buyer")
    assert raised.value.code == "validation_error"
    assert "discount_amount" in raised.value.extra
    order = _reload(order)
    assert [(item.sku_id, item.quantity) for item in order.lines.all()] == [(sku.pk, 3)]
    assert (stock_of(sku, warehouse).reserved, stock_of(other_sku, warehouse).reserved) == (3, 0)
    assert order.payable_amount == Decimal("60.00")


def test_lines_of_a_paid_order_cannot_change(sku):
    order = pay(create_order((sku, 1)))
    with pytest.raises(Conflict) as raised:
        order_change_lines(order_no=order.order_no, lines=[line(sku, 2)], actor="buyer")
    assert raised.value.code == "invalid_status"


def test_edit_endpoints(signed, sku, warehouse):
    order = create_order((sku, 1), shop=signed.shop)
    base = f"/api/v1/orders/{order.order_no}"
    remark = signed.post(f"{base}/remark", {"remark": "call first"})
    assert (remark.status_code, remark.json()["seller_remark"]) == (200, "call first")
    new_recipient = {
        "name": "张三",
        "phone": "13500000000",
        "province": "浙江省",
        "city": "杭州市",
        "address": "文三路1号",
    }
    address = signed.post(f"{base}/address", {"recipient": new_recipient})
    assert (address.status_code, address.json()["recipient"]["city"]) == (200, "杭州市")
    lines = signed.post(f"{base}/lines", {"lines": [{"sku_code": sku.code, "quantity": 4, "unit_price": "50.00"}]})
    assert (lines.status_code, lines.json()["payable_amount"]) == (200, "200.00")  # free shipping from 99.00
    assert stock_of(sku, warehouse).reserved == 4
    pay(_reload(order))
    refused = signed.post(f"{base}/lines", {"lines": [{"sku_code": sku.code, "quantity": 1, "unit_price": "25.00"}]})
    assert (refused.status_code, refused.json()["code"]) == (409, "invalid_status")


@pytest.mark.parametrize("edit", ["remark", "address", "lines"])
def test_an_edit_on_a_stale_version_is_refused_with_412_and_changes_nothing(sku, other_sku, edit):
    order = create_order((sku, 1))
    order_update_remark(order_no=order.order_no, remark="first", actor="cs", expected_version=order.version)
    stale = order.version
    apply = {
        "remark": lambda: order_update_remark(
            order_no=order.order_no, remark="second", actor="cs", expected_version=stale
        ),
        "address": lambda: order_update_address(
            order_no=order.order_no, recipient=recipient(address="别处"), actor="cs", expected_version=stale
        ),
        "lines": lambda: order_change_lines(
            order_no=order.order_no, lines=[line(other_sku, 2)], actor="cs", expected_version=stale
        ),
    }[edit]
    with pytest.raises(ApplicationError) as raised:
        apply()
    assert (raised.value.status_code, raised.value.code) == (412, "version_conflict")
    assert raised.value.extra == {"version": stale + 1}
    after = _reload(order)
    assert (after.seller_remark, after.address, after.version) == ("first", "世纪大道100号", stale + 1)
    assert [(item.sku_id, item.quantity) for item in after.lines.all()] == [(sku.pk, 1)]
    assert other_sku.stocks.get().reserved == 0
