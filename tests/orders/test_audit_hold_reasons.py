"""Hold reasons lifted by their owner: a platform lock holds an order with ``platform_locked``
and its unlock takes that reason off, releasing the order when nothing else holds it."""

import pytest

from apps.core.exceptions import NotFound
from apps.core.models import OutboxEvent
from apps.inventory.models import Reservation
from apps.orders.models import OrderStatus, OrderStatusLog
from apps.orders.services import (
    PLATFORM_LOCKED,
    order_audit,
    order_hold,
    order_remove_hold_reason,
)
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

LOCK = "Locked on the platform (LOCKED)."
UNLOCK = "Unlocked on the platform (WAIT_SELLER_STOCK_OUT)."


@pytest.fixture
def sku():
    sku = SkuFactory()
    receive(sku, WarehouseFactory(), 100)
    return sku


def hold_codes(order) -> list[str]:
    return [reason["code"] for reason in reload(order).hold_reasons]


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
