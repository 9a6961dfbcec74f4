"""A payment's success racing the order's payment timeout, on MariaDB with real threads.

The callback against the timeout's closing of the payment: whichever wins the payment row
lock, the money is recorded exactly once, and because the order timed out (its stock
released) the orders app refunds it automatically. The success reaching the order (the
``payment.succeeded`` consumer) against the order's expiry: whichever wins the order row
lock, the order is either paid with its stock held, or timed out with the money recorded
and refunded; never both, and the money is never lost.
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
from apps.inventory.models import Reservation
from apps.orders.events import on_payment_succeeded
from apps.orders.models import Order, OrderStatus
from apps.orders.services import order_expire
from apps.payments.models import Payment, PaymentStatus, Refund
from apps.payments.selectors import refunds_total
from tests.inventory.helpers import run_in_threads
from tests.orders.factories import SkuFactory, WarehouseFactory, create_order, receive, stock_of
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


def race_expiry_and_success(order_no: str, succeeded: OutboxEvent) -> list:
    """The order's expiry and the ``payment.succeeded`` consumer, started together."""

    def step(i: int):
        if i == 0:
            return order_expire(order_no=order_no, actor="system:beat")
        return on_payment_succeeded(succeeded)

    return run_in_threads(step, 2)


@pytest.mark.django_db(transaction=True)
def test_the_success_reaching_the_order_racing_its_expiry_leaves_it_paid_or_refunded(paid_payment):
    warehouse = WarehouseFactory()
    sku = SkuFactory()
    receive(sku, warehouse, 10)
    paid = 0
    for _round in range(4):
        order = create_order((sku, 1))
        Order.objects.filter(pk=order.pk).update(payment_deadline=timezone.now() - timedelta(seconds=1))
        payment = paid_payment(provider="wechat", amount=str(order.payable_amount), order_no=order.order_no)
        succeeded = OutboxEvent.objects.get(topic="payment.succeeded", aggregate_id=str(payment.pk))

        results = race_expiry_and_success(order.order_no, succeeded)

        assert not [r for r in results if isinstance(r, BaseException)]
        order.refresh_from_db()
        late = Refund.objects.filter(order_no=order.order_no, reference=f"late:{payment.out_trade_no}")
        held = Reservation.objects.filter(reference=order.order_no, status=Reservation.Status.ACTIVE).exists()
        assert order.paid_amount == payment.amount  # the money is on the order either way, once
        if order.status == OrderStatus.PAID:
            assert results[0] is None  # the expiry found the order paid and changed nothing
            assert held
            assert not late.exists()
            assert refunds_total(order.order_no) == 0
            paid += 1
        else:
            assert order.status == OrderStatus.PAYMENT_TIMEOUT
            assert not held
            assert [r.amount for r in late] == [payment.amount]
            assert refunds_total(order.order_no) == payment.amount
        # Stock: one unit held for each paid order, the timed-out ones released theirs.
        assert stock_of(sku, warehouse).reserved == paid
