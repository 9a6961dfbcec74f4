import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from apps.core.exceptions import ApplicationError, Conflict
from apps.orders.models import Order, OrderStatus, OrderStatusLog
from apps.orders.services import order_record_refund
from apps.orders.services.fulfillment import order_delivery_update, orders_complete_delivered
from tests.orders.factories_fulfillment import OrderFactory, reload

pytestmark = pytest.mark.django_db


def trail(order) -> list[str]:
    return list(OrderStatusLog.objects.filter(order=order).order_by("id").values_list("to_status", flat=True))


def test_carrier_progress_from_shipped_to_delivered():
    order = OrderFactory(status=OrderStatus.SHIPPED)

    order_delivery_update(order_no=order.order_no, status="delivering", actor="wms:x")
    delivered = order_delivery_update(order_no=order.order_no, status="delivered", actor="wms:x")

    assert delivered.status == OrderStatus.DELIVERED
    assert reload(order).delivered_at is not None
    assert trail(order) == ["delivering", "delivered"]


def test_repeated_and_late_reports_change_nothing():
    order = OrderFactory(status=OrderStatus.SHIPPED)
    order_delivery_update(order_no=order.order_no, status="delivered", actor="wms:x")

    order_delivery_update(order_no=order.order_no, status="delivered", actor="wms:x")
    order_delivery_update(order_no=order.order_no, status="delivering", actor="wms:x")

    assert reload(order).status == OrderStatus.DELIVERED
    assert trail(order) == ["delivering", "delivered"]


def test_failed_delivery_then_redelivery():
    order = OrderFactory(status=OrderStatus.DELIVERING)

    order_delivery_update(order_no=order.order_no, status="delivery_failed", actor="wms:x")
    assert reload(order).status == OrderStatus.DELIVERY_FAILED
    order_delivery_update(order_no=order.order_no, status="delivering", actor="wms:x")
    order_delivery_update(order_no=order.order_no, status="delivered", actor="wms:x")

    assert trail(order) == ["delivery_failed", "delivering", "delivered"]


def test_delivery_report_for_an_unshipped_order_is_refused():
    order = OrderFactory(status=OrderStatus.PENDING_SHIPMENT)

    with pytest.raises(Conflict):
        order_delivery_update(order_no=order.order_no, status="delivered", actor="wms:x")
    with pytest.raises(ApplicationError) as exc:
        order_delivery_update(order_no=order.order_no, status="lost", actor="wms:x")

    assert exc.value.code == "invalid_delivery_status"
    assert reload(order).status == OrderStatus.PENDING_SHIPMENT
    assert trail(order) == []


def delivered_days_ago(days: float) -> Order:
    order = OrderFactory(status=OrderStatus.DELIVERED)
    Order.objects.filter(pk=order.pk).update(delivered_at=timezone.now() - timedelta(days=days))
    return order


def test_orders_delivered_long_enough_ago_complete(settings):
    settings.ORDER_AUTO_COMPLETE_DAYS = 7
    old, recent = delivered_days_ago(7.1), delivered_days_ago(6.9)

    assert orders_complete_delivered(actor="system:beat") == [old.order_no]

    assert reload(old).status == OrderStatus.COMPLETED
    assert reload(old).completed_at is not None
    assert reload(recent).status == OrderStatus.DELIVERED
    assert orders_complete_delivered(actor="system:beat") == []


def test_one_run_completes_every_due_order_over_several_batches(settings):
    settings.ORDER_AUTO_COMPLETE_DAYS = 7
    settings.ORDER_AUTO_COMPLETE_BATCH_SIZE = 2
    due = [delivered_days_ago(8 + i / 10) for i in range(5)]
    recent = delivered_days_ago(1)

    completed = orders_complete_delivered(actor="system:beat")

    assert sorted(completed) == sorted(o.order_no for o in due)
    assert all(reload(o).status == OrderStatus.COMPLETED for o in due)
    assert reload(recent).status == OrderStatus.DELIVERED
    assert orders_complete_delivered(actor="system:beat") == []
    assert OrderStatusLog.objects.filter(to_status="completed").count() == 5


@pytest.mark.django_db(transaction=True)
def test_two_completion_runs_at_once_complete_each_order_once():
    orders = [delivered_days_ago(10) for _ in range(5)]
    results: list[list[str]] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            results.append(orders_complete_delivered(actor="system:beat"))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(no for result in results for no in result) == sorted(o.order_no for o in orders)
    assert OrderStatusLog.objects.filter(to_status="completed").count() == 5


@pytest.mark.parametrize("report", ["delivered", "delivery_failed"])
def test_an_order_refunded_in_full_while_delivering_ends_refunded_not_completed(report, settings):
    order = OrderFactory(status=OrderStatus.SHIPPED)
    order_delivery_update(order_no=order.order_no, status="delivering", actor="wms:x")
    order_record_refund(order_no=order.order_no, amount=order.paid_amount, actor="system:payments", refund_id="R-1")
    assert (reload(order).status, reload(order).refunded_amount) == (OrderStatus.DELIVERING, order.paid_amount)

    order_delivery_update(order_no=order.order_no, status=report, actor="wms:x")

    assert reload(order).status == OrderStatus.REFUNDED
    assert trail(order)[-3:] == [report, "refunding", "refunded"]
    # A repeated scan changes nothing, and the completion job leaves the order alone.
    order_delivery_update(order_no=order.order_no, status=report, actor="wms:x")
    settings.ORDER_AUTO_COMPLETE_DAYS = 0
    assert orders_complete_delivered(actor="system:beat") == []
    assert reload(order).status == OrderStatus.REFUNDED
    assert trail(order)[-1] == "refunded" and len(trail(order)) == 5


def test_a_partial_refund_while_delivering_still_completes(settings):
    order = OrderFactory(status=OrderStatus.SHIPPED)
    order_delivery_update(order_no=order.order_no, status="delivering", actor="wms:x")
    order_record_refund(order_no=order.order_no, amount=Decimal("10.00"), actor="system:payments", refund_id="R-2")

    order_delivery_update(order_no=order.order_no, status="delivered", actor="wms:x")
    settings.ORDER_AUTO_COMPLETE_DAYS = 0

    assert orders_complete_delivered(actor="system:beat") == [order.order_no]
    assert reload(order).status == OrderStatus.COMPLETED


def test_the_completion_job_refunds_a_delivered_order_whose_money_all_went_back(settings):
    """An order left delivered though refunded in full (before deliveries looked at refunds)."""
    order = OrderFactory(status=OrderStatus.SHIPPED)
    order_delivery_update(order_no=order.order_no, status="delivered", actor="wms:x")
    Order.objects.filter(pk=order.pk).update(refunded_amount=order.paid_amount)
    settings.ORDER_AUTO_COMPLETE_DAYS = 0

    assert orders_complete_delivered(actor="system:beat") == []
    assert reload(order).status == OrderStatus.REFUNDED
    assert trail(order)[-2:] == ["refunding", "refunded"]


def test_a_delivery_report_for_an_order_intercepted_in_transit_is_refused():
    order = OrderFactory(status=OrderStatus.SHIPPED)
    order_record_refund(order_no=order.order_no, amount=order.paid_amount, actor="system:payments", refund_id="R-3")
    assert reload(order).status == OrderStatus.REFUNDED

    with pytest.raises(Conflict):
        order_delivery_update(order_no=order.order_no, status="delivered", actor="wms:x")

    assert reload(order).status == OrderStatus.REFUNDED
