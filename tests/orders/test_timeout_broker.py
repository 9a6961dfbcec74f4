"""The payment-deadline countdown travels through a real Redis broker; when Redis loses it
(a restart without persistence, as our Redis runs), the beat sweep still closes the order,
exactly once, and the countdown arriving after all changes nothing."""

import pytest
from django.conf import settings
from kombu import Connection

from apps.inventory.models import StockMovement
from apps.orders.models import Order, OrderStatusLog
from apps.orders.tasks import order_expire_overdue_task, order_expire_task
from tests.orders.factories import create_order, stock_of
from tests.orders.test_timeouts import _overdue


def _queued(broker: Connection) -> int:
    with broker.channel() as channel:
        return channel.client.llen("events")


@pytest.mark.django_db
def test_a_countdown_lost_by_the_redis_broker_is_closed_by_the_sweep_once(sku, warehouse):
    order = create_order((sku, 2))
    with Connection(settings.REDIS_URL) as broker:
        broker.default_channel.client.delete("events")
        order_expire_task.apply_async(
            kwargs={"order_no": order.order_no}, eta=order.payment_deadline, connection=broker
        )
        assert _queued(broker) == 1  # the countdown sits in Redis

        broker.default_channel.client.flushdb()  # Redis restarts with nothing on disk
        assert _queued(broker) == 0

    _overdue(order)
    assert order_expire_overdue_task() == 1
    assert order_expire_overdue_task() == 0
    assert order_expire_task(order_no=order.order_no) is False  # a copy turning up late

    assert Order.objects.get(pk=order.pk).status == "payment_timeout"
    assert OrderStatusLog.objects.filter(order=order, to_status="payment_timeout").count() == 1
    assert StockMovement.objects.filter(reference=order.order_no, reason="release").count() == 1
    assert stock_of(sku, warehouse).reserved == 0
