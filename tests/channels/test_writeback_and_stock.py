"""Shipment write-back through the outbox, with retries and alerts; stock sync formula and coalescing."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.channels.models import ShipmentWriteBack, SkuMapping, StockPush
from apps.channels.services import (
    raw_orders_convert_batch,
    raw_orders_receive,
    sellable_quantities,
    stock_sync_shop,
    writeback_attempt,
    writebacks_due,
)
from apps.core.models import Alert
from apps.core.outbox import outbox_publish, outbox_relay
from apps.inventory.models import Sku, Warehouse
from apps.inventory.services import stock_receive
from apps.orders.models import Order
from apps.shops.models import Shop
from tests.channels.conftest import platform_order
from tests.channels.factories import WarehouseFactory

pytestmark = pytest.mark.django_db


def _converted_order(ps, order_id: str) -> Order:
    raw_orders_receive(shop=ps.shop, payloads=[platform_order(ps, order_id)], actor="test")
    raw_orders_convert_batch(actor="test")
    return Order.objects.get(platform_order_id=order_id)


def _ship(order: Order, fulfillment_no: str = "F0001") -> None:
    with transaction.atomic():
        outbox_publish(
            topic="fulfillment.shipped",
            aggregate_type="fulfillment",
            aggregate_id=fulfillment_no,
            payload={
                "fulfillment_no": fulfillment_no,
                "order_nos": [order.order_no],
                "warehouse_id": 1,
                "status": "shipped",
                "carrier": "zto",
                "tracking_no": "ZT9000001",
            },
        )


def test_a_shipment_is_written_back_once_even_if_the_event_repeats(make_shop, simulator):
    ps = make_shop("douyin")
    order = _converted_order(ps, "WB1")
    _ship(order)
    outbox_relay()
    _ship(order)  # the same shipment announced twice
    outbox_relay()

    write_back = ShipmentWriteBack.objects.get()
    assert (write_back.platform_order_id, write_back.status) == ("WB1", "pending")
    writeback_attempt(write_back_id=write_back.pk, actor="test")
    assert writeback_attempt(write_back_id=write_back.pk, actor="test") is None  # already done

    assert simulator.shops[ps.shop.app_key].shipments == [
        {"order_id": "WB1", "carrier": "zhongtong", "tracking_no": "ZT9000001"}
    ]


def test_write_back_retries_with_backoff_alerts_after_three_failures_then_succeeds(make_shop, simulator, settings):
    ps = make_shop("tmall")
    order = _converted_order(ps, "WB2")
    _ship(order)
    outbox_relay()
    write_back = ShipmentWriteBack.objects.get()
    simulator.faults["tmall"].fail_next = 3

    for attempt, backoff in zip(range(1, 4), (10, 30, 60), strict=True):
        before = timezone.now()
        result = writeback_attempt(write_back_id=write_back.pk, actor="test")
        assert (result.status, result.attempts) == ("pending", attempt)
        assert result.next_attempt_at >= before + timedelta(seconds=backoff)
        alert_open = Alert.objects.filter(kind="channel_writeback", open_key__isnull=False).exists()
        assert alert_open == (attempt >= settings.CHANNEL_WRITEBACK_ALERT_AFTER)

    done = writeback_attempt(write_back_id=write_back.pk, actor="test")

    assert done.status == ShipmentWriteBack.Status.SUCCEEDED
    assert done.attempts == 4
    assert not Alert.objects.filter(kind="channel_writeback", open_key__isnull=False).exists()
    assert simulator.shops[ps.shop.app_key].shipments == [
        {"order_id": "WB2", "carrier": "ZTO", "tracking_no": "ZT9000001"}
    ]


def test_sellable_is_available_over_the_shops_warehouses_times_ratio_minus_safety(make_shop):
    ps = make_shop("jd", n_skus=2, stock=0, stock_sync_ratio=Decimal("0.80"), safety_stock=3)
    sku, low = ps.skus
    home = ps.shop.warehouses.get()
    second = WarehouseFactory()
    ps.shop.warehouses.add(second)
    elsewhere = WarehouseFactory()  # not one of the shop's warehouses
    for warehouse, quantity in ((home, 10), (second, 7), (elsewhere, 100)):
        stock_receive(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=quantity, reference="r1", operator="test")
    stock_receive(sku_id=low.pk, warehouse_id=home.pk, quantity=4, reference="r1", operator="test")

    # floor(17 x 0.8) - 3 = 10; floor(4 x 0.8) - 3 = 0 (never negative)
    assert sellable_quantities(shop=ps.shop, sku_ids=[sku.pk, low.pk]) == {sku.pk: 10, low.pk: 0}


def test_sellable_counts_only_stock_an_order_could_reserve(make_shop, simulator):
    ps = make_shop("tmall", n_skus=1, stock=0, stock_sync_ratio=Decimal("1.00"), safety_stock=0)
    sku = ps.skus[0]
    home = ps.shop.warehouses.get()
    closed, offline = WarehouseFactory(), WarehouseFactory()
    ps.shop.warehouses.add(closed, offline)
    for warehouse, quantity in ((home, 5), (closed, 10), (offline, 50)):
        stock_receive(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=quantity, reference="r1", operator="test")
    Warehouse.objects.filter(pk=closed.pk).update(is_active=False)
    Warehouse.objects.filter(pk=offline.pk).update(accepts_online_orders=False)

    assert sellable_quantities(shop=ps.shop, sku_ids=[sku.pk]) == {sku.pk: 5}
    # A shop without warehouses of its own sells from every warehouse an order could use.
    ps.shop.warehouses.clear()
    assert sellable_quantities(shop=ps.shop, sku_ids=[sku.pk]) == {sku.pk: 5}

    Sku.objects.filter(pk=sku.pk).update(is_active=False)  # no longer sold: orders cannot reserve it
    assert sellable_quantities(shop=ps.shop, sku_ids=[sku.pk]) == {sku.pk: 0}
    stock_sync_shop(shop_id=ps.shop.pk, full=True, actor="test")
    assert simulator.shops[ps.shop.app_key].stock_updates[-1]["quantity"] == 0


def test_many_stock_changes_become_one_push_per_sku(make_shop, simulator):
    ps = make_shop("wechat", n_skus=2, stock=0)
    warehouse = ps.shop.warehouses.get()
    sku = ps.skus[0]
    for index in range(5):
        stock_receive(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=2, reference=f"in-{index}", operator="test")
    outbox_relay()

    assert list(SkuMapping.objects.filter(stock_dirty=True).values_list("sku_id", flat=True)) == [sku.pk]
    pushes = stock_sync_shop(shop_id=ps.shop.pk, actor="test")

    assert [(p.mapping.sku_id, p.quantity, p.status) for p in pushes] == [(sku.pk, 10, "succeeded")]
    sim_shop = simulator.shops[ps.shop.app_key]
    assert sim_shop.stock_updates == [{"sku_id": ps.sim_skus[0].platform_sku_id, "quantity": 10}]
    assert stock_sync_shop(shop_id=ps.shop.pk, actor="test") == []  # nothing dirty any more


def test_a_failed_stock_push_is_recorded_and_retried_next_time(make_shop, simulator):
    ps = make_shop("douyin", n_skus=1, stock=6)
    simulator.faults["douyin"].fail_next = 1

    first = stock_sync_shop(shop_id=ps.shop.pk, full=True, actor="test")
    assert [p.status for p in first] == ["failed"]
    assert SkuMapping.objects.get().stock_dirty is True

    second = stock_sync_shop(shop_id=ps.shop.pk, actor="test")
    assert [(p.status, p.quantity) for p in second] == [("succeeded", 6)]
    assert StockPush.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_overlapping_syncs_of_a_shop_never_leave_an_older_quantity_on_the_platform(make_shop, simulator):
    ps = make_shop("tmall", n_skus=1, stock=10)
    warehouse = ps.shop.warehouses.get()
    hold = threading.Event()
    simulator.faults["tmall"].hold = hold
    results = {}

    def full_sync():
        try:
            results["full"] = stock_sync_shop(shop_id=ps.shop.pk, full=True, actor="test:full")
        finally:
            connection.close()

    thread = threading.Thread(target=full_sync)
    thread.start()
    try:
        assert simulator.faults["tmall"].arrived.wait(timeout=10)  # the full sync is sending 10
        stock_receive(sku_id=ps.skus[0].pk, warehouse_id=warehouse.pk, quantity=5, reference="r2", operator="test")
        outbox_relay()  # marks the mapping dirty
        results["debounced"] = stock_sync_shop(shop_id=ps.shop.pk, actor="test:debounced")
    finally:
        hold.set()
        thread.join(timeout=30)

    assert results["debounced"] == []  # deferred while the full sync runs
    assert [p.quantity for p in results["full"]] == [10]
    assert SkuMapping.objects.get().stock_dirty is True

    stock_sync_shop(shop_id=ps.shop.pk, actor="test:again")  # the deferred run

    assert simulator.shops[ps.shop.app_key].stock == {ps.sim_skus[0].platform_sku_id: 15}


@pytest.mark.django_db(transaction=True)
def test_while_the_platform_answers_a_write_back_holds_no_lock_and_nobody_else_sends_it(make_shop, simulator):
    ps = make_shop("jd")
    order = _converted_order(ps, "WB3")
    _ship(order)
    outbox_relay()
    write_back = ShipmentWriteBack.objects.get()
    hold = threading.Event()
    simulator.faults["jd"].hold = hold
    results = {}

    def first_worker():
        try:
            results["first"] = writeback_attempt(write_back_id=write_back.pk, actor="test:first")
        finally:
            connection.close()

    thread = threading.Thread(target=first_worker)
    thread.start()
    try:
        assert simulator.faults["jd"].arrived.wait(timeout=10)  # the first worker is inside the platform call
        results["second"] = writeback_attempt(write_back_id=write_back.pk, actor="test:second")
        with transaction.atomic():  # neither the write-back nor its shop is locked meanwhile
            locked = ShipmentWriteBack.objects.select_for_update(nowait=True).get(pk=write_back.pk)
            Shop.objects.select_for_update(nowait=True).get(pk=ps.shop.pk)
        assert (locked.status, locked.attempts, locked.claimed_until is not None) == ("pending", 1, True)
    finally:
        hold.set()
        thread.join(timeout=30)

    assert results["second"] is None  # claimed by the first worker: not sent twice
    assert (results["first"].status, results["first"].attempts) == ("succeeded", 1)
    assert simulator.calls.count(("jd", "jingdong.pop.order.shipment")) == 1
    assert simulator.shops[ps.shop.app_key].shipments == [
        {"order_id": "WB3", "carrier": "463", "tracking_no": "ZT9000001"}
    ]
    done = ShipmentWriteBack.objects.get()
    assert (done.claimed_until, done.claim_token) == (None, "")


def test_a_worker_dying_between_claim_and_outcome_is_retried_once_the_claim_expires(make_shop, simulator, monkeypatch):
    ps = make_shop("tmall")
    order = _converted_order(ps, "WB4")
    _ship(order)
    outbox_relay()
    write_back = ShipmentWriteBack.objects.get()

    def killed(*args, **kwargs):
        raise SystemExit("worker killed during the platform call")

    with monkeypatch.context() as patch:
        patch.setattr("apps.channels.adapters.tmall.TmallAdapter.ship", killed)
        with pytest.raises(SystemExit):
            writeback_attempt(write_back_id=write_back.pk, actor="test:dies")

    claimed = ShipmentWriteBack.objects.get()
    assert (claimed.status, claimed.attempts) == ("pending", 1)
    assert writeback_attempt(write_back_id=write_back.pk, actor="test:early") is None  # the claim still holds
    assert writebacks_due() == []
    assert simulator.shops[ps.shop.app_key].shipments == []

    later = claimed.claimed_until + timedelta(seconds=1)
    assert writebacks_due(now=later) == [write_back.pk]  # the beat scan picks it up again
    done = writeback_attempt(write_back_id=write_back.pk, actor="test:beat", now=later)

    assert (done.status, done.attempts) == ("succeeded", 2)
    assert simulator.shops[ps.shop.app_key].shipments == [
        {"order_id": "WB4", "carrier": "ZTO", "tracking_no": "ZT9000001"}
    ]
