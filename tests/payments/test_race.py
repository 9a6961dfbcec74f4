"""A success callback racing the order's payment timeout, on MariaDB with real threads.

Whichever wins the payment row lock, the money is recorded exactly once, and because the
order timed out (its stock released) the orders app refunds it automatically.
"""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from apps.core.models import OutboxEvent
from apps.core.outbox import outbox_relay
from apps.orders.models import Order, OrderStatus
from apps.orders.services import order_expire
from apps.payments.models import Payment, PaymentStatus
from apps.payments.selectors import refunds_total
from tests.payments.factories import OrderFactory


def race_once(sandbox, start_payment) -> None:
    order = OrderFactory(payable_amount=Decimal("58.00"), payment_deadline=timezone.now() - timedelta(seconds=1))
    payment = start_payment(provider="wechat", amount="58.00", order_no=order.order_no)
    headers, body = sandbox.pay(payment.out_trade_no, notify=False)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def timeout() -> None:
        try:
            barrier.wait()
            order_expire(order_no=order.order_no, actor="system:beat")
            outbox_relay()  # payments.close_for_order locks and closes the open payment
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)
        finally:
            connection.close()

    def callback() -> None:
        try:
            extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}
            barrier.wait()
            response = Client().post(
                "/api/v1/payments/callbacks/wechat", body, content_type="application/json", **extra
            )
            assert response.status_code == 200
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=timeout), threading.Thread(target=callback)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for _relay in range(3):
        outbox_relay()

    assert errors == []
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    succeeded = OutboxEvent.objects.filter(topic="payment.succeeded", aggregate_id=str(payment.pk))
    assert succeeded.count() == 1
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAYMENT_TIMEOUT
    assert refunds_total(order.order_no) == Decimal("58.00")
    assert Payment.objects.filter(order_no=order.order_no).count() == 1


@pytest.mark.django_db(transaction=True)
def test_callback_racing_the_timeout_records_the_money_once_and_refunds_it(sandbox, start_payment):
    for _round in range(3):
        race_once(sandbox, start_payment)
