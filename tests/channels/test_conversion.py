"""Raw orders -> formal orders: batches, failures that do not block, mappings, updates."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.channels.models import RawOrder
from apps.channels.services import (
    raw_orders_convert_batch,
    raw_orders_receive,
    raw_orders_requeue_due,
    sku_mapping_save,
)
from apps.channels.simulator.platforms import SimLine
from apps.channels.tasks import raw_orders_compensation_task
from apps.core.models import OutboxEvent
from apps.inventory.models import Reservation, Stock
from apps.inventory.selectors import ledger_mismatches
from apps.inventory.services import InsufficientStock
from apps.orders.models import Order, OrderLine, OrderStatus, OrderStatusLog
from apps.orders.services import OrderLineInput, RecipientInput, order_audit, order_create
from tests.channels.conftest import platform_order
from tests.channels.factories import SkuMappingFactory
from tests.inventory.helpers import run_in_threads

pytestmark = pytest.mark.django_db


def push(ps, *orders):
    return raw_orders_receive(shop=ps.shop, payloads=list(orders), actor="test")


def convert():
    return raw_orders_convert_batch(actor="test")


def test_a_paid_platform_order_becomes_a_paid_order_with_stock_reserved(make_shop):
    ps = make_shop("tmall")
    push(ps, platform_order(ps, "T100", message="请尽快发货"))

    report = convert()

    raw = RawOrder.objects.get(platform_order_id="T100")
    assert report.converted == [raw.pk]
    assert raw.status == RawOrder.Status.CONVERTED
    order = Order.objects.get(pk=raw.order_id)
    assert order.status == OrderStatus.PAID
    assert order.platform_order_id == "T100"
    assert order.paid_amount == Decimal("189.00")
    assert order.payable_amount == Decimal("189.00")
    assert order.buyer_message == "请尽快发货"
    assert sorted(order.lines.values_list("sku_id", "quantity")) == sorted([(ps.skus[0].pk, 2), (ps.skus[1].pk, 1)])
    reserved = dict(Stock.objects.filter(sku__in=ps.skus).values_list("sku_id", "reserved"))
    assert reserved == {ps.skus[0].pk: 2, ps.skus[1].pk: 1}


def test_a_bad_order_in_the_middle_of_a_batch_does_not_block_the_others(make_shop):
    ps = make_shop("jd", n_skus=3, stock=10)
    ps.skus[2].is_active = False  # no longer sold: the orders app refuses the line
    ps.skus[2].save(update_fields=["is_active"])
    retired = [SimLine(ps.sim_skus[2], 1)]
    push(
        ps,
        platform_order(ps, "J1"),
        platform_order(ps, "J2", lines=retired, order_discount=Decimal("0")),
        platform_order(ps, "J3"),
    )

    report = convert()

    statuses = dict(RawOrder.objects.values_list("platform_order_id", "status"))
    assert statuses == {"J1": "converted", "J2": "failed", "J3": "converted"}
    failed = RawOrder.objects.get(platform_order_id="J2")
    assert failed.error_code == "conversion_failed"
    assert failed.next_attempt_at is not None  # retried later by the compensation job
    assert len(report.converted) == 2
    assert Order.objects.filter(shop=ps.shop).count() == 2


def test_an_unmapped_sku_fails_clearly_and_converts_once_mapped(make_shop):
    ps = make_shop("wechat", mapped=False)
    push(ps, platform_order(ps, "W1"))

    convert()

    raw = RawOrder.objects.get(platform_order_id="W1")
    assert raw.status == RawOrder.Status.FAILED
    assert raw.error_code == "unmapped_sku"
    assert ps.sim_skus[0].platform_sku_id in raw.error
    assert raw.order_id is None

    for sku, sim_sku in zip(ps.skus, ps.sim_skus, strict=True):
        mapping = SkuMappingFactory.build(shop=ps.shop, sku=sku, platform_sku_id=sim_sku.platform_sku_id)
        sku_mapping_save(mapping=mapping, actor="admin:test")
    assert RawOrder.objects.get(pk=raw.pk).status == RawOrder.Status.PENDING

    convert()

    raw.refresh_from_db()
    assert raw.status == RawOrder.Status.CONVERTED
    assert Order.objects.get(pk=raw.order_id).status == OrderStatus.PAID


def test_unpaid_orders_wait_until_the_platform_reports_them_paid(make_shop):
    ps = make_shop("douyin")
    push(ps, platform_order(ps, "D1", status="wait_pay", minutes_ago=5))
    convert()
    assert RawOrder.objects.get(platform_order_id="D1").status == RawOrder.Status.IGNORED
    assert not Order.objects.exists()

    push(ps, platform_order(ps, "D1", status="paid", minutes_ago=1))
    convert()

    raw = RawOrder.objects.get(platform_order_id="D1")
    assert raw.status == RawOrder.Status.CONVERTED
    assert Order.objects.get(pk=raw.order_id).status == OrderStatus.PAID


def test_a_duplicate_payload_changes_nothing_and_a_cancellation_cancels_the_order(make_shop):
    ps = make_shop("tmall")
    first = platform_order(ps, "T200", minutes_ago=5)
    push(ps, first)
    convert()
    order = Order.objects.get(platform_order_id="T200")
    # the audit and allocation would move it on; here it waits for shipment
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.PENDING_SHIPMENT)

    results = push(ps, first)
    assert results[0].outcome == "unchanged"
    assert convert().processed == 0

    push(ps, platform_order(ps, "T200", status="cancelled", minutes_ago=1))
    convert()

    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    assert Stock.objects.get(sku=ps.skus[0]).reserved == 0
    assert RawOrder.objects.get(platform_order_id="T200").status == RawOrder.Status.CONVERTED
    assert Order.objects.filter(platform_order_id="T200").count() == 1


def test_a_platform_cancellation_of_a_paid_order_refunds_it_and_releases_the_stock(make_shop):
    ps = make_shop("tmall")
    push(ps, platform_order(ps, "T250", minutes_ago=5))
    convert()
    order = Order.objects.get(platform_order_id="T250")
    assert order.status == OrderStatus.PAID
    assert Stock.objects.get(sku=ps.skus[0]).reserved > 0

    push(ps, platform_order(ps, "T250", status="cancelled", minutes_ago=1))
    convert()

    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.REFUNDED
    assert order.refunded_amount == order.paid_amount > 0
    assert Stock.objects.get(sku=ps.skus[0]).reserved == 0
    assert RawOrder.objects.get(platform_order_id="T250").status == RawOrder.Status.CONVERTED


def test_a_refund_request_after_shipment_goes_to_after_sales_once(make_shop):
    ps = make_shop("tmall")
    push(ps, platform_order(ps, "T300", minutes_ago=5))
    convert()
    order = Order.objects.get(platform_order_id="T300")
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.SHIPPED)

    refund = {"id": "RF-300", "sku_index": 1}
    push(ps, platform_order(ps, "T300", status="shipped", minutes_ago=2, refund=refund))
    convert()
    push(ps, platform_order(ps, "T300", status="shipped", minutes_ago=1, refund=refund, message="催一下"))
    convert()

    events = list(OutboxEvent.objects.filter(topic="channel.aftersale_requested"))
    assert len(events) == 1
    assert events[0].payload == {
        "shop_id": ps.shop.pk,
        "order_no": order.order_no,
        "platform_refund_id": "RF-300",
        "type": "refund_only",
        "amount": "69.00",
        "reason": "不想要了",
        "lines": [{"sku_id": ps.skus[1].pk, "quantity": 1}],
    }


def test_a_batch_runs_the_same_number_of_queries_for_5_orders_as_for_50(make_shop, settings):
    settings.SHOP_WAREHOUSES_CACHE_SECONDS = 0  # both batches read the shop's warehouses
    ps = make_shop("douyin", stock=1000)
    push(ps, *[platform_order(ps, f"Q{index:03d}") for index in range(5)])
    with CaptureQueriesContext(connection) as five:
        assert len(convert().converted) == 5
    push(ps, *[platform_order(ps, f"R{index:03d}") for index in range(50)])
    with CaptureQueriesContext(connection) as fifty:
        assert len(convert().converted) == 50

    assert len(fifty.captured_queries) == len(five.captured_queries)
    orders = Order.objects.filter(platform_order_id__startswith="R")
    assert orders.count() == 50
    assert set(orders.values_list("status", flat=True)) == {OrderStatus.PAID}
    assert OrderLine.objects.filter(order__in=orders).count() == 100
    assert Reservation.objects.filter(reference__in=orders.values("order_no")).count() == 100
    assert OrderStatusLog.objects.filter(order__in=orders).count() == 50
    assert OutboxEvent.objects.filter(topic="order.paid", aggregate_id__in=orders.values("order_no")).count() == 50
    reserved = dict(Stock.objects.filter(sku__in=ps.skus).values_list("sku_id", "reserved"))
    assert reserved == {ps.skus[0].pk: 55 * 2, ps.skus[1].pk: 55}
    assert not ledger_mismatches()


def test_orders_of_a_batch_share_the_stock_in_arrival_order_and_the_short_ones_are_held(make_shop):
    ps = make_shop("tmall", stock=5)
    push(ps, *[platform_order(ps, f"S{index}", minutes_ago=10 - index) for index in range(4)])

    report = convert()

    assert len(report.converted) == 4
    statuses = dict(Order.objects.values_list("platform_order_id", "status"))
    # Each order takes 2 of SKU 0 and 1 of SKU 1: two fit in 5 units, the next two are held.
    assert statuses == {
        "S0": OrderStatus.PAID,
        "S1": OrderStatus.PAID,
        "S2": OrderStatus.ON_HOLD,
        "S3": OrderStatus.ON_HOLD,
    }
    held = Order.objects.get(platform_order_id="S2")
    assert [reason["code"] for reason in held.hold_reasons] == ["out_of_stock"]
    assert not Reservation.objects.filter(reference=held.order_no).exists()
    assert dict(Stock.objects.filter(sku__in=ps.skus).values_list("sku_id", "reserved")) == {
        ps.skus[0].pk: 4,
        ps.skus[1].pk: 2,
    }
    assert not ledger_mismatches()


def test_a_refund_of_part_of_an_unshipped_order_goes_to_after_sales(make_shop):
    ps = make_shop("wechat")
    push(ps, platform_order(ps, "W400", minutes_ago=5))
    convert()
    order = Order.objects.get(platform_order_id="W400")

    push(ps, platform_order(ps, "W400", minutes_ago=1, refund={"id": "AS-400", "sku_index": 1}))
    report = convert()

    raw = RawOrder.objects.get(platform_order_id="W400")
    assert report.updated == [raw.pk]
    assert raw.status == RawOrder.Status.CONVERTED
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID  # the rest of the order still ships
    event = OutboxEvent.objects.get(topic="channel.aftersale_requested")
    assert (event.payload["platform_refund_id"], event.payload["amount"]) == ("AS-400", "69.00")
    assert event.payload["lines"] == [{"sku_id": ps.skus[1].pk, "quantity": 1}]


def test_the_compensation_job_converts_orders_whose_mapping_was_added_outside_the_admin(make_shop):
    ps = make_shop("jd", mapped=False)
    push(ps, platform_order(ps, "J500"))
    convert()
    assert RawOrder.objects.get(platform_order_id="J500").error_code == "unmapped_sku"
    assert raw_orders_requeue_due(actor="test") == 0  # nothing mapped yet: stays failed

    for sku, sim_sku in zip(ps.skus, ps.sim_skus, strict=True):  # e.g. an import script
        SkuMappingFactory(shop=ps.shop, sku=sku, platform_sku_id=sim_sku.platform_sku_id)
    raw_orders_compensation_task()

    raw = RawOrder.objects.get(platform_order_id="J500")
    assert raw.status == RawOrder.Status.CONVERTED
    assert Order.objects.get(pk=raw.order_id).status == OrderStatus.PAID


def test_a_jd_cross_border_order_waiting_for_domestic_shipment_is_a_paid_order(make_shop):
    ps = make_shop("jd")
    push(ps, platform_order(ps, "J600", status="paid_cross_border"))

    convert()

    raw = RawOrder.objects.get(platform_order_id="J600")
    assert raw.status == RawOrder.Status.CONVERTED
    assert Order.objects.get(pk=raw.order_id).status == OrderStatus.PAID


@pytest.mark.parametrize("state", ["locked", "paused"])
def test_a_jd_lock_holds_the_paid_order_and_keeps_its_stock_until_jd_cancels_it(make_shop, state):
    ps = make_shop("jd")
    push(ps, platform_order(ps, "J610", minutes_ago=5))
    convert()
    order = Order.objects.get(platform_order_id="J610")
    reserved = Stock.objects.get(sku=ps.skus[0]).reserved
    assert reserved == 2

    push(ps, platform_order(ps, "J610", status=state, minutes_ago=3))
    convert()

    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.ON_HOLD
    assert "Locked on the platform" in order.hold_reasons[0]["message"]
    assert Stock.objects.get(sku=ps.skus[0]).reserved == reserved
    assert RawOrder.objects.get(platform_order_id="J610").status == RawOrder.Status.CONVERTED

    push(ps, platform_order(ps, "J610", status="cancelled", minutes_ago=1))
    convert()

    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.REFUNDED
    assert Stock.objects.get(sku=ps.skus[0]).reserved == 0


def test_a_jd_order_that_arrives_locked_is_created_on_hold(make_shop):
    ps = make_shop("jd")
    push(ps, platform_order(ps, "J620", status="locked"))

    report = convert()

    raw = RawOrder.objects.get(platform_order_id="J620")
    assert report.converted == [raw.pk]
    order = Order.objects.get(pk=raw.order_id)
    assert order.status == OrderStatus.ON_HOLD
    assert Stock.objects.get(sku=ps.skus[0]).reserved == 2


def test_a_jd_lock_of_an_allocated_order_leaves_it_and_alerts_staff(make_shop):
    from apps.core.models import Alert

    ps = make_shop("jd")
    push(ps, platform_order(ps, "J630", minutes_ago=5))
    convert()
    order = Order.objects.get(platform_order_id="J630")
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.PENDING_SHIPMENT)

    push(ps, platform_order(ps, "J630", status="locked", minutes_ago=1))
    convert()

    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING_SHIPMENT
    raw = RawOrder.objects.get(platform_order_id="J630")
    assert raw.status == RawOrder.Status.CONVERTED
    assert "LOCKED" in raw.error
    alert = Alert.objects.get(kind="channel_order_locked")
    assert alert.is_open and order.order_no in alert.message


def hold_codes(order) -> list[str]:
    return [reason["code"] for reason in Order.objects.get(pk=order.pk).hold_reasons]


def test_a_jd_order_that_arrives_locked_is_audited_and_allocated_once_jd_unlocks_it(make_shop):
    ps = make_shop("jd")
    push(ps, platform_order(ps, "J640", status="locked", minutes_ago=5))
    convert()
    order = Order.objects.get(platform_order_id="J640")
    assert hold_codes(order) == ["platform_locked"]

    push(ps, platform_order(ps, "J640", minutes_ago=1))
    report = convert()

    raw = RawOrder.objects.get(platform_order_id="J640")
    assert report.updated == [raw.pk]
    assert raw.status == RawOrder.Status.CONVERTED
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.PENDING_SHIPMENT
    assert order.hold_reasons == []
    assert order.audited_at is not None
    assert Stock.objects.get(sku=ps.skus[0]).reserved == 2
    steps = list(OrderStatusLog.objects.filter(order=order).order_by("id").values_list("to_status", flat=True))
    assert steps[-3:] == [OrderStatus.ON_HOLD, OrderStatus.PAID, OrderStatus.PENDING_SHIPMENT]
    release = OrderStatusLog.objects.filter(order=order, to_status=OrderStatus.PAID).last()
    assert "Unlocked on the platform" in release.remark


def test_a_locked_paid_order_that_jd_unlocks_is_released_and_audited_again(make_shop):
    ps = make_shop("jd")
    push(ps, platform_order(ps, "J650", minutes_ago=5, message="周末送货"))
    convert()
    push(ps, platform_order(ps, "J650", status="locked", minutes_ago=3, message="周末送货"))
    convert()
    order = Order.objects.get(platform_order_id="J650")
    assert order.status == OrderStatus.ON_HOLD
    assert hold_codes(order) == ["platform_locked"]

    push(ps, platform_order(ps, "J650", minutes_ago=1, message="周末送货"))
    convert()

    # Released and audited again: the buyer's message now holds it for a person to read.
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.ON_HOLD
    assert hold_codes(order) == ["buyer_message"]
    released = OrderStatusLog.objects.filter(order=order, from_status=OrderStatus.ON_HOLD, to_status=OrderStatus.PAID)
    assert released.count() == 1
    assert Stock.objects.get(sku=ps.skus[0]).reserved == 2


def test_a_staff_hold_added_while_jd_locked_the_order_stays_after_the_unlock(make_shop):
    from apps.orders.services import order_hold

    ps = make_shop("jd")
    push(ps, platform_order(ps, "J660", status="locked", minutes_ago=5))
    convert()
    order = Order.objects.get(platform_order_id="J660")
    order_hold(order_no=order.order_no, actor="cs:amy", reason="buyer asked to change the colour")

    push(ps, platform_order(ps, "J660", minutes_ago=1))
    convert()

    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.ON_HOLD
    assert [(r["code"], r["message"]) for r in order.hold_reasons] == [("manual", "buyer asked to change the colour")]
    log = OrderStatusLog.objects.filter(order=order).last()
    assert (log.from_status, log.to_status) == (OrderStatus.ON_HOLD, OrderStatus.ON_HOLD)
    assert "Unlocked on the platform" in log.remark


def test_the_same_unlock_twice_changes_nothing_the_second_time(make_shop):
    ps = make_shop("jd")
    push(ps, platform_order(ps, "J670", status="locked", minutes_ago=5))
    convert()
    unlocked = platform_order(ps, "J670", minutes_ago=2)
    push(ps, unlocked)
    convert()
    order = Order.objects.get(platform_order_id="J670")
    assert order.status == OrderStatus.PENDING_SHIPMENT
    logs, events = OrderStatusLog.objects.filter(order=order).count(), OutboxEvent.objects.count()

    push(ps, unlocked)  # the same payload: nothing to convert
    push(ps, platform_order(ps, "J670", minutes_ago=1))  # paid again, a newer payload
    convert()

    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING_SHIPMENT
    assert Order.objects.get(pk=order.pk).version == order.version
    assert OrderStatusLog.objects.filter(order=order).count() == logs
    assert OutboxEvent.objects.count() == events
    assert Stock.objects.get(sku=ps.skus[0]).reserved == 2


def test_a_jd_unlock_of_an_allocated_order_resolves_its_alert(make_shop):
    from apps.core.models import Alert

    ps = make_shop("jd")
    push(ps, platform_order(ps, "J680", minutes_ago=5))
    convert()
    order = Order.objects.get(platform_order_id="J680")
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.PENDING_SHIPMENT)
    push(ps, platform_order(ps, "J680", status="locked", minutes_ago=3))
    convert()
    assert Alert.objects.get(kind="channel_order_locked").is_open

    push(ps, platform_order(ps, "J680", minutes_ago=1))
    convert()

    alert = Alert.objects.get(kind="channel_order_locked")
    assert not alert.is_open
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING_SHIPMENT
    assert RawOrder.objects.get(platform_order_id="J680").error == ""


@pytest.mark.django_db(transaction=True)
def test_two_workers_converting_the_same_batch_create_each_order_once(make_shop):
    ps = make_shop("jd", stock=1000)
    push(ps, *[platform_order(ps, f"P{index:02d}") for index in range(20)])

    reports = run_in_threads(lambda _i: raw_orders_convert_batch(actor="test"), 2)

    assert not [r for r in reports if isinstance(r, Exception)], reports
    assert sorted(pk for report in reports for pk in report.converted) == sorted(
        RawOrder.objects.values_list("pk", flat=True)
    )
    assert Order.objects.count() == 20
    assert set(RawOrder.objects.values_list("status", flat=True)) == {RawOrder.Status.CONVERTED}
    reserved = dict(Stock.objects.filter(sku__in=ps.skus).values_list("sku_id", "reserved"))
    assert reserved == {ps.skus[0].pk: 40, ps.skus[1].pk: 20}
    assert not ledger_mismatches()


@pytest.mark.django_db(transaction=True)
def test_a_batch_racing_single_orders_for_scarce_stock_never_oversells(make_shop):
    ps = make_shop("tmall", stock=30)
    push(ps, *[platform_order(ps, f"B{index:02d}") for index in range(10)])
    recipient = RecipientInput("李雷", "13900000000", "浙江省", "杭州市", "西湖区", "文三路 1 号")

    def run(i: int):
        if i == 0:
            return raw_orders_convert_batch(actor="test")
        return order_create(
            shop=None,
            buyer_id=f"buyer-{i}",
            lines=[OrderLineInput(sku_id=ps.skus[0].pk, quantity=2, unit_price=Decimal("59.00"))],
            recipient=recipient,
            actor="test",
        )

    results = run_in_threads(run, 11)

    refused = [r for r in results[1:] if isinstance(r, Exception)]
    assert all(isinstance(r, InsufficientStock) for r in refused), refused
    assert len(results[0].converted) == 10  # every paid platform order is kept: reserved or held
    stock = Stock.objects.get(sku=ps.skus[0])
    held = Reservation.objects.filter(stock=stock, status=Reservation.Status.ACTIVE)
    assert stock.reserved == sum(held.values_list("quantity", flat=True)) <= stock.on_hand == 30
    on_hold = Order.objects.filter(platform_order_id__startswith="B", status=OrderStatus.ON_HOLD).count()
    reserved_platform = Order.objects.filter(platform_order_id__startswith="B", status=OrderStatus.PAID).count()
    assert on_hold + reserved_platform == 10
    assert stock.reserved == 2 * reserved_platform + 2 * (10 - len(refused))
    assert not ledger_mismatches()


def test_a_batch_reads_new_ids_back_where_the_database_returns_none(make_shop, monkeypatch):
    """MySQL 8 returns no ids from a bulk INSERT (MariaDB does): the same batch, read back."""
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    ps = make_shop("douyin", stock=100)
    push(ps, *[platform_order(ps, f"M{index}") for index in range(3)])

    assert len(convert().converted) == 3

    for order in Order.objects.filter(platform_order_id__startswith="M"):
        lines = {line.pk: (line.sku_id, line.quantity) for line in order.lines.all()}
        held = Reservation.objects.filter(reference=order.order_no).select_related("stock")
        assert sorted((lines[int(r.line_reference)], r.quantity) for r in held) == sorted(
            (value, value[1]) for value in lines.values()
        )
        events = OutboxEvent.objects.filter(aggregate_id=order.order_no).order_by("topic")
        assert [e.topic for e in events] == ["order.created", "order.paid"]


def test_a_new_order_refunded_in_full_on_the_platform_is_cancelled_on_first_sight(make_shop):
    ps = make_shop("tmall")
    refund = {"id": "RF-700", "sku_index": 0}
    one_line = {
        "lines": [SimLine(ps.sim_skus[0], 1)],
        "shipping_fee": Decimal("0.00"),
        "order_discount": Decimal("0.00"),
    }
    push(ps, platform_order(ps, "T700", minutes_ago=5, refund=refund, **one_line), platform_order(ps, "T701"))

    report = convert()

    raw = RawOrder.objects.get(platform_order_id="T700")
    assert sorted(report.converted) == sorted(RawOrder.objects.values_list("pk", flat=True))
    assert raw.aftersale_refund_ids == ["RF-700"]
    order = Order.objects.get(pk=raw.order_id)
    assert order.status == OrderStatus.REFUNDED  # never audited, allocated or shipped
    assert order.refunded_amount == order.paid_amount == Decimal("59.00")
    assert not Reservation.objects.filter(reference=order.order_no, status=Reservation.Status.ACTIVE).exists()
    assert Order.objects.get(platform_order_id="T701").status == OrderStatus.PAID
    assert not OutboxEvent.objects.filter(topic="channel.aftersale_requested").exists()

    push(ps, platform_order(ps, "T700", minutes_ago=1, refund=refund, message="退了", **one_line))
    convert()

    assert Order.objects.get(pk=order.pk).refunded_amount == Decimal("59.00")
    assert RawOrder.objects.get(pk=raw.pk).status == RawOrder.Status.CONVERTED


def test_a_new_order_with_a_refund_of_one_line_reaches_after_sales_once(make_shop):
    ps = make_shop("tmall")
    refund = {"id": "RF-710", "sku_index": 1}
    push(ps, platform_order(ps, "T710", minutes_ago=5, refund=refund))

    assert convert().converted == [RawOrder.objects.get(platform_order_id="T710").pk]

    order = Order.objects.get(platform_order_id="T710")
    assert order.status == OrderStatus.PAID  # the rest of the order still ships
    assert RawOrder.objects.get(platform_order_id="T710").aftersale_refund_ids == ["RF-710"]
    event = OutboxEvent.objects.get(topic="channel.aftersale_requested")
    assert (event.aggregate_id, event.payload["platform_refund_id"], event.payload["amount"]) == (
        order.order_no,
        "RF-710",
        "69.00",
    )
    assert event.payload["lines"] == [{"sku_id": ps.skus[1].pk, "quantity": 1}]

    push(ps, platform_order(ps, "T710", minutes_ago=1, refund=refund, message="催一下"))
    convert()

    assert OutboxEvent.objects.filter(topic="channel.aftersale_requested").count() == 1


def test_a_platform_cancellation_of_an_allocated_order_records_the_platform_refund(make_shop):
    ps = make_shop("tmall")
    push(ps, platform_order(ps, "T720", minutes_ago=5))
    convert()
    order = order_audit(order_no=Order.objects.get(platform_order_id="T720").order_no, actor="test")
    assert order.status == OrderStatus.PENDING_SHIPMENT

    push(ps, platform_order(ps, "T720", status="cancelled", minutes_ago=2))
    convert()

    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.CANCELLED
    assert order.refunded_amount == order.paid_amount == Decimal("189.00")
    assert dict(Stock.objects.filter(sku__in=ps.skus).values_list("sku_id", "reserved")) == {
        ps.skus[0].pk: 0,
        ps.skus[1].pk: 0,
    }
    assert not ledger_mismatches()

    push(ps, platform_order(ps, "T720", status="cancelled", minutes_ago=1, message="再发一次"))
    convert()

    assert Order.objects.get(pk=order.pk).refunded_amount == Decimal("189.00")


def test_converting_a_batch_of_50_new_paid_orders_runs_19_statements(make_shop, django_assert_num_queries):
    ps = make_shop("douyin", stock=1000)
    push(ps, *[platform_order(ps, f"S{index:03d}") for index in range(50)])
    # The batch's reads (raw orders, mappings, linked orders), the raw orders' lock, the SKUs,
    # the shop's warehouses and the candidate stock; the stock UPDATE, orders, lines, ledger,
    # reservations, status logs, outbox events, the raw orders settled; and the SAVEPOINT
    # pairs of the two transactions the test's own transaction nests.
    with django_assert_num_queries(19):
        assert len(convert().converted) == 50
    assert Order.objects.filter(platform_order_id__startswith="S", status=OrderStatus.PAID).count() == 50
