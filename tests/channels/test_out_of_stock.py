"""A paid platform order without stock is imported and held as out of stock (缺货挂起),
never lost: it moves on by itself once stock is received."""

import pytest

from apps.channels.models import RawOrder
from apps.channels.services import raw_orders_convert_batch, raw_orders_receive
from apps.core.models import Alert
from apps.inventory.models import Reservation, Stock
from apps.inventory.services import stock_receive
from apps.orders.models import Fulfillment, Order, OrderStatus
from apps.orders.tasks import orders_retry_out_of_stock_task
from tests.channels.conftest import platform_order

pytestmark = pytest.mark.django_db


def test_a_paid_platform_order_without_stock_converts_on_hold_and_ships_once_stock_arrives(make_shop):
    ps = make_shop("tmall", stock=0)
    raw_orders_receive(shop=ps.shop, payloads=[platform_order(ps, "T-OOS-1")], actor="test")

    report = raw_orders_convert_batch(actor="test")

    raw = RawOrder.objects.get(platform_order_id="T-OOS-1")
    assert report.converted == [raw.pk]
    assert raw.status == RawOrder.Status.CONVERTED
    order = Order.objects.get(pk=raw.order_id)
    assert order.status == OrderStatus.ON_HOLD
    [reason] = order.hold_reasons
    assert reason["code"] == "out_of_stock"
    assert {s["sku_code"] for s in reason["details"]["shortages"]} == {sku.code for sku in ps.skus}
    assert not Reservation.objects.filter(reference=order.order_no).exists()
    alerts = Alert.objects.filter(kind="out_of_stock", open_key__isnull=False)
    assert sorted(alerts.values_list("details__sku_id", flat=True)) == sorted(sku.pk for sku in ps.skus)

    # The same order pushed again with the same payload changes nothing and raises nothing new.
    raw_orders_receive(shop=ps.shop, payloads=[platform_order(ps, "T-OOS-1")], actor="test")
    raw_orders_convert_batch(actor="test")
    assert Order.objects.filter(shop=ps.shop).count() == 1
    assert alerts.count() == 2

    warehouse = ps.shop.warehouses.get()
    for sku in ps.skus:
        stock_receive(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=5, reference=f"PO-{sku.pk}", operator="wh")
    assert orders_retry_out_of_stock_task() == 1

    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.PENDING_SHIPMENT
    reserved = dict(Stock.objects.filter(sku__in=ps.skus).values_list("sku_id", "reserved"))
    assert reserved == {ps.skus[0].pk: 2, ps.skus[1].pk: 1}
    assert Fulfillment.objects.filter(lines__order_line__order=order).distinct().count() == 1
    assert not Alert.objects.filter(kind="out_of_stock", open_key__isnull=False).exists()


def test_a_locked_jd_order_without_stock_keeps_both_reasons_and_waits_for_the_unlock(make_shop):
    ps = make_shop("jd", stock=0)
    raw_orders_receive(shop=ps.shop, payloads=[platform_order(ps, "J-OOS-L", status="locked")], actor="test")

    raw_orders_convert_batch(actor="test")

    raw = RawOrder.objects.get(platform_order_id="J-OOS-L")
    assert raw.status == RawOrder.Status.CONVERTED
    order = Order.objects.get(pk=raw.order_id)
    assert order.status == OrderStatus.ON_HOLD
    assert [reason["code"] for reason in order.hold_reasons] == ["out_of_stock", "platform_locked"]

    warehouse = ps.shop.warehouses.get()
    for sku in ps.skus:
        stock_receive(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=5, reference=f"PO-{sku.pk}", operator="wh")
    assert orders_retry_out_of_stock_task() == 0  # the platform lock is for the platform to lift
    assert Order.objects.get(pk=order.pk).status == OrderStatus.ON_HOLD


def test_an_unlocked_jd_order_still_without_stock_stays_on_hold_for_stock_only(make_shop):
    ps = make_shop("jd", stock=0)
    raw_orders_receive(
        shop=ps.shop, payloads=[platform_order(ps, "J-OOS-U", status="locked", minutes_ago=5)], actor="test"
    )
    raw_orders_convert_batch(actor="test")

    raw_orders_receive(shop=ps.shop, payloads=[platform_order(ps, "J-OOS-U", minutes_ago=1)], actor="test")
    raw_orders_convert_batch(actor="test")

    order = Order.objects.get(platform_order_id="J-OOS-U")
    assert order.status == OrderStatus.ON_HOLD
    assert [reason["code"] for reason in order.hold_reasons] == ["out_of_stock"]
    assert not Reservation.objects.filter(reference=order.order_no).exists()

    warehouse = ps.shop.warehouses.get()
    for sku in ps.skus:
        stock_receive(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=5, reference=f"PO-{sku.pk}", operator="wh")
    assert orders_retry_out_of_stock_task() == 1  # no longer locked: it moves on with the stock
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING_SHIPMENT


def test_a_jd_lock_of_an_order_held_for_stock_adds_the_platform_reason_once(make_shop):
    ps = make_shop("jd", stock=0)
    raw_orders_receive(shop=ps.shop, payloads=[platform_order(ps, "J-OOS-H", minutes_ago=5)], actor="test")
    raw_orders_convert_batch(actor="test")
    for minutes_ago in (3, 2):  # two locked payloads: the reason is added once
        locked = platform_order(ps, "J-OOS-H", status="locked", minutes_ago=minutes_ago)
        raw_orders_receive(shop=ps.shop, payloads=[locked], actor="test")
        raw_orders_convert_batch(actor="test")

    order = Order.objects.get(platform_order_id="J-OOS-H")
    assert [reason["code"] for reason in order.hold_reasons] == ["out_of_stock", "platform_locked"]
    warehouse = ps.shop.warehouses.get()
    for sku in ps.skus:
        stock_receive(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=5, reference=f"PO-{sku.pk}", operator="wh")
    assert orders_retry_out_of_stock_task() == 0  # locked on the platform: it waits for the unlock
