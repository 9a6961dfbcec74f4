"""Paid orders without stock (缺货挂起): accepted on hold, never lost, moved on once stock arrives."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.exceptions import Conflict
from apps.core.models import Alert, OutboxEvent
from apps.inventory.models import Reservation, StockMovement
from apps.inventory.services import stock_release
from apps.orders.models import Fulfillment, Order, OrderLine, OrderStatusLog
from apps.orders.schedules import BEAT_SCHEDULE
from apps.orders.services import ON_SHORTAGE_HOLD, PaidInput, order_audit, order_hold, order_release
from apps.orders.tasks import orders_retry_out_of_stock_task
from tests.orders.factories import SkuFactory, create_order, receive, stock_of

pytestmark = pytest.mark.django_db


def paid(amount: str = "100.00") -> PaidInput:
    return PaidInput(amount=Decimal(amount), paid_at=timezone.now() - timedelta(minutes=2), method="tmall")


def held(*items, **kwargs) -> Order:
    """A paid platform order created with ``on_shortage="hold"``."""
    return create_order(*items, paid=paid(), on_shortage=ON_SHORTAGE_HOLD, **kwargs)


def reload(order: Order) -> Order:
    return Order.objects.get(pk=order.pk)


def hold_codes(order: Order) -> list[str]:
    return [reason["code"] for reason in reload(order).hold_reasons]


def open_alert_skus() -> set[int]:
    return set(
        Alert.objects.filter(kind="out_of_stock", open_key__isnull=False).values_list("details__sku_id", flat=True)
    )


def test_a_paid_order_without_stock_is_created_on_hold_naming_the_short_skus(sku, warehouse):
    empty = SkuFactory()

    order = held((sku, 2), (empty, 1))

    order = reload(order)
    assert order.status == "on_hold"
    assert order.paid_amount == Decimal("100.00")
    assert order.lines.count() == 2
    [reason] = order.hold_reasons
    assert reason["code"] == "out_of_stock"
    assert empty.code in reason["message"]
    assert [s["sku_code"] for s in reason["details"]["shortages"]] == [empty.code]
    assert not Reservation.objects.filter(reference=order.order_no).exists()
    assert stock_of(sku, warehouse).reserved == 0  # all or nothing: the SKU in stock is not held either
    assert list(order.status_logs.order_by("id").values_list("from_status", "to_status")) == [
        ("", "paid"),
        ("paid", "on_hold"),
    ]
    topics = OutboxEvent.objects.filter(aggregate_type="order", aggregate_id=order.order_no).order_by("id")
    assert list(topics.values_list("topic", flat=True)) == ["order.created", "order.paid", "order.on_hold"]
    assert open_alert_skus() == {empty.pk}


def test_one_alert_per_sku_while_orders_wait_for_it(sku):
    empty = SkuFactory()
    held((empty, 1), buyer_id="b-1")
    held((empty, 2), buyer_id="b-2")

    alert = Alert.objects.get(kind="out_of_stock", open_key__isnull=False)
    assert alert.details["sku_id"] == empty.pk
    assert alert.occurrences == 2


def test_without_the_option_short_stock_is_still_refused_and_leaves_nothing(sku):
    counts = (Order.objects.count(), OrderLine.objects.count(), OrderStatusLog.objects.count(), Alert.objects.count())
    with pytest.raises(Conflict) as raised:
        create_order((sku, 11), paid=paid())
    assert raised.value.code == "insufficient_stock"
    assert (
        Order.objects.count(),
        OrderLine.objects.count(),
        OrderStatusLog.objects.count(),
        Alert.objects.count(),
    ) == counts


def test_own_api_still_answers_409_with_no_rows_left(staff_client, sku):
    body = {
        "buyer_id": "buyer-9",
        "lines": [{"sku_code": sku.code, "quantity": 11, "unit_price": "30.00"}],
        "recipient": {
            "name": "李雷",
            "phone": "13912345678",
            "province": "上海市",
            "city": "上海市",
            "district": "徐汇区",
            "address": "漕溪北路88号",
        },
    }
    response = staff_client.post("/api/v1/orders", body, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    assert not Order.objects.exists()
    assert not OrderLine.objects.exists()
    assert not Alert.objects.filter(kind="out_of_stock").exists()


def test_the_option_keeps_the_query_count_of_the_normal_path(warehouse):
    skus = SkuFactory.create_batch(3)
    for item in skus:
        receive(item, warehouse, 10)
    counts = []
    for option in ("refuse", ON_SHORTAGE_HOLD, "refuse", ON_SHORTAGE_HOLD):
        with CaptureQueriesContext(connection) as captured:
            order = create_order(*[(item, 1) for item in skus], paid=paid(), on_shortage=option)
        assert order.status == "paid"
        counts.append(len(captured))
    assert len(set(counts)) == 1


def test_staff_release_while_stock_is_short_keeps_it_held_without_error(sku):
    empty = SkuFactory()
    order = held((empty, 1))
    logs = OrderStatusLog.objects.filter(order=order).count()

    result = order_release(order_no=order.order_no, actor="admin:alice")
    forced = order_release(order_no=order.order_no, actor="admin:alice", force=True)

    assert (result.status, forced.status) == ("on_hold", "on_hold")
    assert hold_codes(order) == ["out_of_stock"]
    assert OrderStatusLog.objects.filter(order=order).count() == logs  # nothing changed, nothing logged
    assert not Reservation.objects.filter(reference=order.order_no).exists()


def test_the_audit_reserves_an_order_without_reservation_before_its_rules(sku, other_sku, warehouse):
    kept = create_order((sku, 3), paid=paid(), buyer_message="请开发票")
    short = create_order((other_sku, 3), paid=paid(), buyer_id="b-2", buyer_message="请开发票")
    for order in (kept, short):
        stock_release(reference=order.order_no, operator="t")  # as if released meanwhile
    create_order((other_sku, 9), buyer_id="b-3")  # someone else takes the stock of ``short``

    order_audit(order_no=kept.order_no, actor="t")
    order_audit(order_no=short.order_no, actor="t")

    assert hold_codes(kept) == ["buyer_message"]
    assert stock_of(sku, warehouse).reserved == 3  # reserved again while a person reads the message
    assert hold_codes(short) == ["out_of_stock", "buyer_message"]
    assert not Reservation.objects.filter(reference=short.order_no, status="active").exists()


def test_beat_job_reserves_once_stock_is_received_and_the_order_is_allocated(warehouse):
    empty = SkuFactory()
    order = held((empty, 2))

    assert orders_retry_out_of_stock_task() == 0  # nothing received yet: stays held, untouched
    assert reload(order).status == "on_hold"
    assert OrderStatusLog.objects.filter(order=order).count() == 2

    receive(empty, warehouse, 5)
    assert orders_retry_out_of_stock_task() == 1

    order = reload(order)
    assert order.status == "pending_shipment"
    assert order.hold_reasons == []
    assert stock_of(empty, warehouse).reserved == 2
    assert Fulfillment.objects.filter(lines__order_line__order=order).distinct().count() == 1
    assert list(order.status_logs.order_by("id").values_list("to_status", "operator")) == [
        ("paid", "test"),
        ("on_hold", "test"),
        ("paid", "system:beat"),
        ("pending_shipment", "system:beat"),
    ]
    assert open_alert_skus() == set()
    assert orders_retry_out_of_stock_task() == 0  # idempotent
    assert StockMovement.objects.filter(reference=order.order_no, reason="reserve").count() == 1


def test_beat_job_serves_the_oldest_order_first(warehouse):
    empty = SkuFactory()
    older = held((empty, 1), buyer_id="b-old")
    younger = held((empty, 1), buyer_id="b-new")
    Order.objects.filter(pk=younger.pk).update(created_at=timezone.now() + timedelta(seconds=5))

    receive(empty, warehouse, 1)
    orders_retry_out_of_stock_task()

    assert reload(older).status == "pending_shipment"
    assert reload(younger).status == "on_hold"
    assert open_alert_skus() == {empty.pk}  # the younger one still waits for it

    receive(empty, warehouse, 2)
    orders_retry_out_of_stock_task()
    assert reload(younger).status == "pending_shipment"
    assert open_alert_skus() == set()


def test_beat_job_passes_a_restocked_order_through_the_audit_rules(warehouse):
    empty = SkuFactory()
    order = held((empty, 1), buyer_message="请开发票")

    receive(empty, warehouse, 1)
    orders_retry_out_of_stock_task()

    assert hold_codes(order) == ["buyer_message"]  # a person reads the message now ...
    assert stock_of(empty, warehouse).reserved == 1  # ... while the stock is kept for the order
    assert orders_retry_out_of_stock_task() == 0  # no longer out of stock: the job leaves it to staff


def test_a_held_order_whose_shortage_changes_names_the_new_skus(warehouse):
    first, second = SkuFactory(), SkuFactory()
    receive(second, warehouse, 1)
    order = held((first, 1), (second, 1))
    assert [s["sku_id"] for s in reload(order).hold_reasons[0]["details"]["shortages"]] == [first.pk]

    receive(first, warehouse, 1)
    create_order((second, 1), buyer_id="someone-else")  # takes the last unit of ``second``
    orders_retry_out_of_stock_task()

    order = reload(order)
    assert order.status == "on_hold"
    assert [s["sku_id"] for s in order.hold_reasons[0]["details"]["shortages"]] == [second.pk]
    assert open_alert_skus() == {second.pk}


def test_staff_can_pin_an_out_of_stock_order_and_the_beat_job_leaves_it_to_them(warehouse):
    empty = SkuFactory()
    order = held((empty, 1))
    order_hold(order_no=order.order_no, actor="cs:amy", reason="buyer asked to wait for a call")
    assert hold_codes(order) == ["out_of_stock", "manual"]

    receive(empty, warehouse, 3)
    assert orders_retry_out_of_stock_task() == 0
    assert reload(order).status == "on_hold"
    assert open_alert_skus() == {empty.pk}  # the order still waits

    assert order_release(order_no=order.order_no, actor="cs:amy").status == "pending_shipment"
    assert stock_of(empty, warehouse).reserved == 1


def test_the_beat_job_is_scheduled_every_few_minutes():
    job = BEAT_SCHEDULE["orders.retry_out_of_stock"]
    assert job["task"] == orders_retry_out_of_stock_task.name
    assert job["schedule"] <= 300


@pytest.mark.django_db(transaction=True)
def test_two_releases_and_the_beat_job_at_once_reserve_once(warehouse):
    """Real threads on MariaDB: the order row lock lets one of them reserve and allocate."""
    empty = SkuFactory()
    order = held((empty, 2))
    receive(empty, warehouse, 5)
    barrier = threading.Barrier(3)
    results: list = [None] * 3

    def run(index, target):
        try:
            barrier.wait()
            results[index] = target()
        except Exception as exc:  # noqa: BLE001 - the loser's error is the result under test
            results[index] = exc
        finally:
            connection.close()

    targets = [
        lambda: order_release(order_no=order.order_no, actor="admin:alice").status,
        lambda: order_release(order_no=order.order_no, actor="admin:bob").status,
        lambda: orders_retry_out_of_stock_task(),
    ]
    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    releases = results[:2]
    winners = [r for r in releases if r == "pending_shipment"]
    losers = [r for r in releases if isinstance(r, Conflict)]
    assert len(winners) + results[2] == 1  # exactly one of the three moved the order on
    assert all(loser.code == "invalid_status" for loser in losers)
    assert len(winners) + len(losers) == 2
    assert reload(order).status == "pending_shipment"
    assert StockMovement.objects.filter(reference=order.order_no, reason="reserve").count() == 1
    assert stock_of(empty, warehouse).reserved == 2
    assert Fulfillment.objects.filter(lines__order_line__order=order).distinct().count() == 1
