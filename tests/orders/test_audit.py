from decimal import Decimal

import pytest

from apps.core.exceptions import Conflict, NotFound
from apps.core.models import OutboxEvent
from apps.inventory.models import Reservation
from apps.orders.models import BlacklistedPhone, OrderStatus, OrderStatusLog
from apps.orders.services import PLATFORM_LOCKED, order_audit, order_hold, order_release, order_remove_hold_reason
from apps.orders.tasks import orders_retry_out_of_stock_task
from tests.orders.factories_fulfillment import (
    SkuFactory,
    WarehouseFactory,
    fulfillments_of,
    paid_order,
    receive,
    reload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def sku():
    sku = SkuFactory()
    receive(sku, WarehouseFactory(), 100)
    return sku


def hold_codes(order) -> list[str]:
    return [reason["code"] for reason in reload(order).hold_reasons]


def test_clean_order_passes_and_is_allocated(sku):
    order = paid_order([(sku, 2)])

    result = order_audit(order_no=order.order_no, actor="system:audit")

    assert result.status == OrderStatus.PENDING_SHIPMENT
    assert reload(order).audited_at is not None
    assert fulfillments_of(order).count() == 1
    log = OrderStatusLog.objects.filter(order=order).last()
    assert (log.from_status, log.to_status, log.operator) == ("paid", "pending_shipment", "system:audit")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"buyer_message": "请周末送货"}, "buyer_message"),
        ({"payable_amount": Decimal("5000.01")}, "amount_over_limit"),
        ({"address": "自提"}, "address_suspicious"),
        ({"address": "测试地址 1 号楼 2 单元"}, "address_suspicious"),
        ({"address": "TEST street 88, building 9"}, "address_suspicious"),
        ({"address": "1号"}, "address_suspicious"),
        ({"recipient_phone": "123"}, "address_incomplete"),
        ({"city": ""}, "address_incomplete"),
    ],
)
def test_each_rule_holds_the_order_with_its_reason(sku, fields, code):
    order = paid_order([(sku, 1)], **fields)

    result = order_audit(order_no=order.order_no, actor="system:audit")

    assert result.status == OrderStatus.ON_HOLD
    assert hold_codes(order) == [code]
    assert not fulfillments_of(order).exists()
    assert all(reason["message"] for reason in reload(order).hold_reasons)


def test_payable_at_the_limit_passes(sku):
    order = paid_order([(sku, 1)], payable_amount=Decimal("5000.00"))

    assert order_audit(order_no=order.order_no, actor="t").status == OrderStatus.PENDING_SHIPMENT


def test_buyer_message_rule_can_be_switched_off(sku, settings):
    settings.AUDIT_HOLD_ON_BUYER_MESSAGE = False
    order = paid_order([(sku, 1)], buyer_message="谢谢")

    assert order_audit(order_no=order.order_no, actor="t").status == OrderStatus.PENDING_SHIPMENT


def test_blacklisted_phone_is_held(sku):
    BlacklistedPhone.objects.create(phone="13900000000", reason="chargebacks")
    order = paid_order([(sku, 1)], recipient_phone="13900000000")

    order_audit(order_no=order.order_no, actor="t")

    assert hold_codes(order) == ["phone_blacklisted"]


def test_duplicate_of_a_recent_order_is_held(sku):
    first = paid_order([(sku, 2)])
    order_audit(order_no=first.order_no, actor="t")
    second = paid_order([(sku, 2)])

    order_audit(order_no=second.order_no, actor="t")

    assert hold_codes(second) == ["suspected_duplicate"]
    assert reload(second).hold_reasons[0]["details"] == {"order_no": first.order_no}


def test_same_buyer_with_other_items_or_address_is_no_duplicate(sku):
    paid_order([(sku, 2)])
    other_quantity = paid_order([(sku, 3)])
    other_address = paid_order([(sku, 2)], address="文三路 200 号 1 幢 101 室")

    assert order_audit(order_no=other_quantity.order_no, actor="t").status == OrderStatus.PENDING_SHIPMENT
    assert order_audit(order_no=other_address.order_no, actor="t").status == OrderStatus.PENDING_SHIPMENT


def test_orders_outside_the_duplicate_window_are_no_duplicates(sku, settings):
    settings.AUDIT_DUPLICATE_WINDOW_MINUTES = 0
    paid_order([(sku, 2)])
    second = paid_order([(sku, 2)])

    assert order_audit(order_no=second.order_no, actor="t").status == OrderStatus.PENDING_SHIPMENT


def test_several_failing_rules_are_all_listed(sku):
    BlacklistedPhone.objects.create(phone="13900000001")
    order = paid_order([(sku, 1)], buyer_message="hi", recipient_phone="13900000001")

    order_audit(order_no=order.order_no, actor="t")

    assert hold_codes(order) == ["buyer_message", "phone_blacklisted"]


def test_release_re_audits_and_allocates_once_the_cause_is_gone(sku):
    phone = BlacklistedPhone.objects.create(phone="13900000002")
    order = paid_order([(sku, 1)], recipient_phone="13900000002")
    order_audit(order_no=order.order_no, actor="t")
    phone.delete()

    result = order_release(order_no=order.order_no, actor="admin:alice", remark="checked by phone")

    assert result.status == OrderStatus.PENDING_SHIPMENT
    assert reload(order).hold_reasons == []
    statuses = list(OrderStatusLog.objects.filter(order=order).values_list("to_status", flat=True))
    assert statuses == ["on_hold", "paid", "pending_shipment"]


def test_release_while_the_cause_remains_holds_again_and_force_passes(sku):
    order = paid_order([(sku, 1)], buyer_message="请开发票")
    order_audit(order_no=order.order_no, actor="t")

    assert order_release(order_no=order.order_no, actor="admin:alice").status == OrderStatus.ON_HOLD
    forced = order_release(order_no=order.order_no, actor="admin:alice", force=True)

    assert forced.status == OrderStatus.PENDING_SHIPMENT
    assert fulfillments_of(order).count() == 1


def test_manual_hold_and_audit_of_a_non_paid_order(sku):
    order = paid_order([(sku, 1)])
    order_hold(order_no=order.order_no, actor="admin:bob", reason="customer called")

    assert hold_codes(order) == ["manual"]
    with pytest.raises(Conflict) as exc:
        order_audit(order_no=order.order_no, actor="t")
    assert exc.value.code == "not_auditable"
    assert reload(order).status == OrderStatus.ON_HOLD


# Hold reasons lifted by their owner: a platform lock holds an order with ``platform_locked``
# and its unlock takes that reason off, releasing the order when nothing else holds it.


LOCK = "Locked on the platform (LOCKED)."
UNLOCK = "Unlocked on the platform (WAIT_SELLER_STOCK_OUT)."


def lock(order):
    return order_hold(order_no=order.order_no, actor="channels", reason=LOCK, code=PLATFORM_LOCKED)


def unlock(order):
    return order_remove_hold_reason(order_no=order.order_no, code=PLATFORM_LOCKED, actor="channels", remark=UNLOCK)


def trace(order) -> tuple[int, int, int]:
    order = reload(order)
    return order.version, OrderStatusLog.objects.filter(order=order).count(), OutboxEvent.objects.count()


def test_a_platform_lock_holds_with_its_own_code_once(sku):
    order = paid_order([(sku, 1)])

    lock(order)
    before = trace(order)
    lock(order)

    assert reload(order).status == OrderStatus.ON_HOLD
    assert hold_codes(order) == ["platform_locked"]
    assert reload(order).hold_reasons[0]["message"] == LOCK
    assert trace(order) == before


def test_staff_holds_keep_their_code_and_add_up(sku):
    order = paid_order([(sku, 1)])

    order_hold(order_no=order.order_no, actor="cs:amy", reason="call the buyer")
    order_hold(order_no=order.order_no, actor="cs:bob", reason="check the invoice")

    assert hold_codes(order) == ["manual", "manual"]


def test_the_unlock_releases_an_order_held_only_by_the_platform_and_audits_it(sku):
    order = paid_order([(sku, 2)])
    lock(order)

    result = unlock(order)

    assert result.status == OrderStatus.PENDING_SHIPMENT
    assert reload(order).hold_reasons == []
    assert fulfillments_of(order).count() == 1
    release = OrderStatusLog.objects.get(order=order, from_status=OrderStatus.ON_HOLD, to_status=OrderStatus.PAID)
    assert (release.operator, release.remark) == ("channels", UNLOCK)


def test_the_unlock_twice_changes_nothing_the_second_time(sku):
    order = paid_order([(sku, 1)])
    lock(order)
    unlock(order)
    before = trace(order)

    assert unlock(order).status == OrderStatus.PENDING_SHIPMENT
    assert trace(order) == before


def test_the_unlock_leaves_an_audit_finding_on_hold_and_logs_it(sku):
    order = paid_order([(sku, 1)], buyer_message="请开发票")
    order_audit(order_no=order.order_no, actor="t")
    lock(order)
    assert hold_codes(order) == ["buyer_message", "platform_locked"]

    unlock(order)

    assert reload(order).status == OrderStatus.ON_HOLD
    assert hold_codes(order) == ["buyer_message"]
    log = OrderStatusLog.objects.filter(order=order).last()
    assert (log.from_status, log.to_status) == (OrderStatus.ON_HOLD, OrderStatus.ON_HOLD)
    assert log.remark.startswith(UNLOCK) and "message" in log.remark
    before = trace(order)
    unlock(order)
    assert trace(order) == before


def test_the_unlock_keeps_a_staff_hold(sku):
    order = paid_order([(sku, 1)])
    lock(order)
    order_hold(order_no=order.order_no, actor="cs:amy", reason="call the buyer")

    unlock(order)

    assert reload(order).status == OrderStatus.ON_HOLD
    assert hold_codes(order) == ["manual"]


def test_a_locked_order_short_of_stock_waits_for_the_unlock_then_for_stock(sku):
    empty = SkuFactory()
    warehouse = WarehouseFactory()
    order = paid_order([(empty, 1)], reserve=False)
    order_audit(order_no=order.order_no, actor="t")  # no stock: held as out of stock
    lock(order)
    receive(empty, warehouse, 1)

    assert orders_retry_out_of_stock_task() == 0  # locked on the platform: left alone
    assert hold_codes(order) == ["out_of_stock", "platform_locked"]

    unlock(order)
    assert hold_codes(order) == ["out_of_stock"]
    assert orders_retry_out_of_stock_task() == 1  # the stock waiting for it moves it on
    assert reload(order).status == OrderStatus.PENDING_SHIPMENT
    assert Reservation.objects.filter(reference=order.order_no).exists()


def test_an_unlock_while_stock_is_short_leaves_only_out_of_stock(sku):
    empty = SkuFactory()
    order = paid_order([(empty, 1)], reserve=False)
    order_audit(order_no=order.order_no, actor="t")
    lock(order)

    unlock(order)

    assert reload(order).status == OrderStatus.ON_HOLD
    assert hold_codes(order) == ["out_of_stock"]
    assert not Reservation.objects.filter(reference=order.order_no).exists()
    assert orders_retry_out_of_stock_task() == 0
    assert reload(order).status == OrderStatus.ON_HOLD


def test_an_unlock_of_an_unknown_order_is_a_404():
    with pytest.raises(NotFound) as exc:
        order_remove_hold_reason(order_no="NOPE", code=PLATFORM_LOCKED, actor="channels", remark=UNLOCK)
    assert exc.value.code == "order_not_found"
