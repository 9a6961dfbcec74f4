"""Refusals (over-return, over-refund, wrong state), races on MariaDB, platform-originated cases."""

import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction

from apps.aftersales.models import AfterSale, AfterSaleLog
from apps.aftersales.models import AfterSaleStatus as A
from apps.aftersales.services.aftersales import (
    AfterSaleLineInput,
    aftersale_approve,
    aftersale_cancel,
    aftersale_create,
    aftersale_refund,
    aftersale_reject,
)
from apps.core.exceptions import ApplicationError
from apps.core.models import Alert
from apps.core.outbox import outbox_publish
from apps.payments.models import Refund
from tests.aftersales.factories import deliver, drain, pay, place_order


def _open(order, type_, lines, amount):
    return aftersale_create(
        order_no=order.order_no,
        type=type_,
        lines=lines,
        amount=Decimal(amount),
        reason="Broken zip",
        source="buyer",
        actor="shop:test",
    )


@pytest.mark.django_db
def test_more_items_than_bought_is_refused(shop, shirt):
    order = deliver(pay(place_order(shop, [(shirt, 2, "50.00")])))
    line = order.lines.get()
    with pytest.raises(ApplicationError) as exc:
        _open(order, "return_refund", [AfterSaleLineInput(line.pk, 3)], "50.00")
    assert exc.value.code == "quantity_exceeds_returnable"
    assert exc.value.status_code == 422
    assert exc.value.extra["lines"] == [{"order_line_id": line.pk, "requested": 3, "returnable": 2}]
    assert not AfterSale.objects.exists()


@pytest.mark.django_db
def test_items_in_another_open_aftersale_cannot_be_returned_twice_but_are_freed_by_cancelling(shop, shirt):
    order = deliver(pay(place_order(shop, [(shirt, 2, "50.00")])))
    line = order.lines.get()
    first = _open(order, "return_refund", [AfterSaleLineInput(line.pk, 2)], "100.00")
    with pytest.raises(ApplicationError) as exc:
        _open(order, "exchange", [AfterSaleLineInput(line.pk, 1)], "0")
    assert exc.value.code == "quantity_exceeds_returnable"

    aftersale_cancel(aftersale_no=first.aftersale_no, actor="shop:test")
    second = _open(order, "exchange", [AfterSaleLineInput(line.pk, 1)], "0")
    assert second.status == A.REQUESTED


@pytest.mark.django_db
def test_more_money_than_paid_minus_open_claims_is_refused(shop, shirt):
    order = deliver(pay(place_order(shop, [(shirt, 2, "50.00")])))
    with pytest.raises(ApplicationError) as exc:
        _open(order, "refund_only", [], "100.01")
    assert exc.value.code == "amount_exceeds_refundable"

    _open(order, "refund_only", [], "60.00")
    with pytest.raises(ApplicationError) as exc:
        _open(order, "refund_only", [], "40.01")
    assert exc.value.code == "amount_exceeds_refundable"
    assert exc.value.extra == {"requested": "40.01", "refundable": "40.00"}
    assert AfterSale.objects.filter(order__order_no=order.order_no).count() == 1


@pytest.mark.django_db
def test_return_types_need_a_shipped_order(shop, shirt):
    order = pay(place_order(shop, [(shirt, 1, "50.00")]))
    with pytest.raises(ApplicationError) as exc:
        _open(order, "return_refund", [AfterSaleLineInput(order.lines.get().pk, 1)], "50.00")
    assert exc.value.code == "order_not_shipped"


@pytest.mark.django_db
def test_a_rejected_request_cannot_be_approved(shop, shirt):
    order = deliver(pay(place_order(shop, [(shirt, 1, "50.00")])))
    aftersale = _open(order, "refund_only", [], "10.00")
    aftersale_reject(aftersale_no=aftersale.aftersale_no, actor="admin:alice", reason="Outside the return window")
    with pytest.raises(ApplicationError) as exc:
        aftersale_approve(aftersale_no=aftersale.aftersale_no, actor="admin:bob")
    assert exc.value.code == "invalid_status"
    assert exc.value.status_code == 409


def _race(target, count=2):
    """Run ``target`` in ``count`` threads released together; return (results, errors)."""
    barrier = threading.Barrier(count)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(target())
        except ApplicationError as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_two_approvals_at_once_approve_once(shop, shirt):
    order = deliver(pay(place_order(shop, [(shirt, 1, "50.00")])))
    aftersale = _open(order, "return_refund", [AfterSaleLineInput(order.lines.get().pk, 1)], "50.00")

    results, errors = _race(lambda: aftersale_approve(aftersale_no=aftersale.aftersale_no, actor="admin:x"))

    assert len(results) == 1
    assert [e.code for e in errors] == ["invalid_status"]
    assert AfterSaleLog.objects.filter(aftersale=aftersale, to_status="approved").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_refunds_at_once_pay_back_once(shop, shirt):
    order = deliver(pay(place_order(shop, [(shirt, 2, "50.00")])))
    aftersale = _open(order, "refund_only", [], "30.00")
    aftersale_approve(aftersale_no=aftersale.aftersale_no, actor="admin:alice")

    results, errors = _race(lambda: aftersale_refund(aftersale_no=aftersale.aftersale_no, actor="admin:x"))

    assert len(results) == 1
    assert [e.code for e in errors] == ["invalid_status"]
    assert list(Refund.objects.filter(order_no=order.order_no).values_list("amount", flat=True)) == [Decimal("30.00")]


@pytest.mark.django_db(transaction=True)
def test_two_requests_for_the_last_items_at_once_only_one_passes(shop, shirt):
    order = deliver(pay(place_order(shop, [(shirt, 1, "50.00")])))
    line_id = order.lines.get().pk

    results, errors = _race(lambda: _open(order, "return_refund", [AfterSaleLineInput(line_id, 1)], "50.00"))

    assert len(results) == 1
    assert [e.code for e in errors] == ["quantity_exceeds_returnable"]
    assert AfterSale.objects.filter(order=order).count() == 1


def _platform_event(shop, order, **overrides):
    payload = {
        "shop_id": shop.pk,
        "order_no": order.order_no,
        "platform_refund_id": "TM-RF-1001",
        "type": "return_refund",
        "amount": "50.00",
        "reason": "七天无理由",
        "lines": [{"sku_id": order.lines.get().sku_id, "quantity": 1}],
        **overrides,
    }
    with transaction.atomic():
        outbox_publish(
            topic="channel.aftersale_requested", aggregate_type="shop", aggregate_id=shop.pk, payload=payload
        )
    drain()


@pytest.mark.django_db
def test_platform_request_opens_one_aftersale_however_often_it_arrives(shop, shirt):
    order = deliver(pay(place_order(shop, [(shirt, 2, "50.00")])))

    _platform_event(shop, order)
    _platform_event(shop, order)

    aftersale = AfterSale.objects.get(order=order)
    assert (aftersale.source, aftersale.platform_refund_id, aftersale.status) == ("platform", "TM-RF-1001", "requested")
    assert aftersale.requested_amount == Decimal("50.00")
    assert aftersale.lines.get().quantity == 1
    assert aftersale.created_by == f"platform:{shop.code}"


@pytest.mark.django_db
def test_platform_request_our_rules_refuse_raises_an_alert(shop, shirt):
    order = deliver(pay(place_order(shop, [(shirt, 2, "50.00")])))

    _platform_event(shop, order, platform_refund_id="TM-RF-2", amount="500.00")

    assert not AfterSale.objects.exists()
    alert = Alert.objects.get(kind="aftersale_platform_refused")
    assert alert.details["code"] == "amount_exceeds_refundable"
