import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.inventory.models import StockMovement
from apps.orders.models import Order, OrderStatusLog
from apps.orders.schedules import BEAT_SCHEDULE
from apps.orders.tasks import order_expire_overdue_task, order_expire_task
from tests.orders.factories import create_order, pay, stock_of


def _overdue(*orders: Order) -> None:
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(payment_deadline=timezone.now() - timedelta(seconds=1))


@pytest.mark.django_db
def test_the_countdown_task_expires_only_a_due_unpaid_order(sku, warehouse):
    order = create_order((sku, 2))
    assert order_expire_task(order_no=order.order_no) is False  # fired early: nothing happens
    _overdue(order)
    assert order_expire_task(order_no=order.order_no) is True
    assert order_expire_task(order_no=order.order_no) is False
    assert Order.objects.get(pk=order.pk).status == "payment_timeout"
    assert stock_of(sku, warehouse).reserved == 0


@pytest.mark.django_db
def test_a_lost_countdown_is_caught_by_the_sweep_exactly_once(sku, warehouse):
    # The broker lost the countdown: nothing ran at the deadline.
    lost = create_order((sku, 2))
    paid = pay(create_order((sku, 1)))
    not_due = create_order((sku, 1))
    _overdue(lost, paid)

    assert order_expire_overdue_task() == 1
    assert order_expire_overdue_task() == 0
    assert order_expire_task(order_no=lost.order_no) is False  # the countdown turning up late

    assert Order.objects.get(pk=lost.pk).status == "payment_timeout"
    assert Order.objects.get(pk=paid.pk).status == "paid"
    assert Order.objects.get(pk=not_due.pk).status == "pending_payment"
    assert OrderStatusLog.objects.filter(order=lost, to_status="payment_timeout").count() == 1
    assert stock_of(sku, warehouse).reserved == 2
    assert BEAT_SCHEDULE["orders.expire_overdue"]["task"] == order_expire_overdue_task.name


@pytest.mark.django_db
def test_the_sweep_works_through_several_batches(sku, warehouse, settings):
    settings.ORDER_EXPIRE_BATCH = 2
    orders = [create_order((sku, 1)) for _ in range(5)]
    _overdue(*orders)
    assert order_expire_overdue_task() == 5
    assert stock_of(sku, warehouse).reserved == 0


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_expire_each_order_once(warehouse, sku):
    orders = [create_order((sku, 1)) for _ in range(8)]
    _overdue(*orders)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def sweep():
        try:
            barrier.wait()
            results.append(order_expire_overdue_task())
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(results) == 8
    assert set(Order.objects.values_list("status", flat=True)) == {"payment_timeout"}
    for order in orders:
        assert OrderStatusLog.objects.filter(order=order, to_status="payment_timeout").count() == 1
        assert StockMovement.objects.filter(reference=order.order_no, reason="release").count() == 1
    assert stock_of(sku, warehouse).reserved == 0
