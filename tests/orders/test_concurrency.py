"""Races decided by MariaDB row locks, with real threads."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.exceptions import ApplicationError
from apps.core.outbox import outbox_relay
from apps.inventory.models import StockMovement
from apps.inventory.selectors import ledger_mismatches
from apps.orders.models import Order
from apps.orders.services import order_expire, order_update_remark
from apps.payments.models import Refund
from tests.conftest import SignedClient
from tests.orders.factories import SHOP_SECRET, SkuFactory, create_order, provider_pays, receive, stock_of

pytestmark = pytest.mark.django_db(transaction=True)


def _race(*targets):
    """Run each target in its own thread, released together; returns their results."""
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)

    def run(index, target):
        try:
            barrier.wait()
            results[index] = target()
        except Exception as exc:  # noqa: BLE001 - the loser's error is the result under test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_payment_racing_the_timeout_has_one_winner_and_a_late_payment_is_refunded(sku, warehouse):
    orders = [create_order((sku, 1)) for _ in range(3)]
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(payment_deadline=timezone.now() - timedelta(seconds=1))
    payments = {o.order_no: provider_pays(o.order_no, o.payable_amount) for o in orders}

    for order in orders:
        _race(lambda o=order: outbox_relay(), lambda o=order: order_expire(order_no=o.order_no, actor="system:t"))
    outbox_relay()

    for order in orders:
        current = Order.objects.get(pk=order.pk)
        late_refund = Refund.objects.filter(reference=f"late:{payments[order.order_no].out_trade_no}")
        if current.status == "payment_timeout":
            assert late_refund.get().amount == order.payable_amount
            assert StockMovement.objects.filter(reference=order.order_no, reason="release").count() == 1
        else:
            assert current.status in ("paid", "pending_shipment", "on_hold")
            assert not late_refund.exists()
            assert not StockMovement.objects.filter(reference=order.order_no, reason="release").exists()
        assert current.paid_amount == order.payable_amount


def test_two_cancels_at_once_one_wins_and_stock_is_released_once(admin_user, sku, warehouse):
    order = create_order((sku, 3))

    def cancel():
        client = APIClient()
        client.force_login(admin_user)
        return client.post(f"/api/v1/orders/{order.order_no}/cancel", {"reason": "dup"}, format="json")

    responses = _race(cancel, cancel)
    assert sorted(r.status_code for r in responses) == [200, 409]
    assert [r.json()["code"] for r in responses if r.status_code == 409] == ["invalid_status"]
    assert Order.objects.get(pk=order.pk).status == "cancelled"
    assert StockMovement.objects.filter(reference=order.order_no, reason="release").count() == 1
    assert stock_of(sku, warehouse).reserved == 0


def test_twenty_identical_posts_with_one_key_make_one_order(admin_user, sku, warehouse):
    body = {
        "buyer_id": "rush",
        "lines": [{"sku_code": sku.code, "quantity": 1, "unit_price": "30.00"}],
        "recipient": {
            "name": "韩梅梅",
            "phone": "13700000000",
            "province": "上海市",
            "city": "上海市",
            "district": "",
            "address": "南京西路1号",
        },
    }

    def post():
        client = APIClient()
        client.force_login(admin_user)
        return client.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="rush-1")

    responses = _race(*[post for _ in range(20)])
    assert all(not isinstance(r, Exception) for r in responses), responses
    created = [r for r in responses if r.status_code == 201]
    retry = [r for r in responses if r.status_code == 409]
    assert len(created) + len(retry) == 20
    assert {r.json()["code"] for r in retry} <= {"idempotency_in_progress"}
    assert Order.objects.count() == 1
    assert {r.json()["order_no"] for r in created} == {Order.objects.get().order_no}
    assert stock_of(sku, warehouse).reserved == 1


def test_thirty_storefront_orders_racing_for_ten_units_sell_exactly_ten(shop, warehouse):
    sku = SkuFactory(price=Decimal("30.00"))
    receive(sku, warehouse, 10)

    def order(buyer: int):
        body = {
            "buyer_id": f"buyer-{buyer}",
            "lines": [{"sku_code": sku.code, "quantity": 1}],
            "recipient": {"name": "韩梅梅", "phone": "13700000000", "province": "上海市", "city": "上海市",
                          "address": "南京西路1号"},
        }  # fmt: skip
        return SignedClient(shop, SHOP_SECRET).post("/api/v1/orders", body, headers={"Idempotency-Key": f"k{buyer}"})

    responses = _race(*[lambda buyer=buyer: order(buyer) for buyer in range(30)])
    assert all(not isinstance(r, Exception) for r in responses), responses
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 10 + [409] * 20
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"insufficient_stock"}
    assert Order.objects.count() == 10
    assert stock_of(sku, warehouse).reserved == 10
    assert ledger_mismatches() == []


def test_two_edits_made_on_one_version_have_one_winner_and_one_412(sku):
    order = create_order((sku, 1))
    read = order.version

    def edit(remark):
        return lambda: order_update_remark(order_no=order.order_no, remark=remark, actor="cs", expected_version=read)

    results = _race(edit("from desk A"), edit("from desk B"))

    winners = [result for result in results if isinstance(result, Order)]
    losers = [result for result in results if isinstance(result, ApplicationError)]
    assert len(winners) == 1
    assert [(loser.status_code, loser.code) for loser in losers] == [(412, "version_conflict")]
    after = Order.objects.get(pk=order.pk)
    assert (after.seller_remark, after.version) == (winners[0].seller_remark, read + 1)
