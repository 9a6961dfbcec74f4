"""The write path's statement counts, pinned: plan (reads) outside the transaction, then one
short transaction that only writes. A change that adds a statement must change these numbers.

Measured in the test's own transaction: where the code opens a transaction, Django runs it as
a SAVEPOINT here, so those counts include one SAVEPOINT/RELEASE pair production does not run.
"""

from decimal import Decimal

import pytest

from apps.inventory.models import Reservation
from apps.inventory.selectors import ledger_mismatches
from apps.inventory.services import StockRequest, stock_reserve
from apps.orders.models import Order, OrderStatusLog
from apps.orders.services import order_create
from tests.orders.factories import SkuFactory, WarehouseFactory, line, receive, recipient, stock_of

pytestmark = pytest.mark.django_db

RECIPIENT = {"name": "李雷", "phone": "13912345678", "province": "上海市", "city": "上海市", "address": "漕溪北路88号"}


@pytest.fixture
def three_skus(warehouse):
    skus = [SkuFactory(price=Decimal("30.00")) for _ in range(3)]
    for sku in skus:
        receive(sku, warehouse, 10)
    return skus


def test_a_signed_api_create_with_an_idempotency_key_runs_11_statements(signed, three_skus, django_assert_num_queries):
    body = {
        "buyer_id": "buyer-1",
        "lines": [{"sku_code": sku.code, "quantity": 1, "unit_price": "30.00"} for sku in three_skus],
        "recipient": RECIPIENT,
    }
    assert signed.post("/api/v1/orders", body, headers={"Idempotency-Key": "first"}).status_code == 201
    # The key's claim, one read of SKUs, prices and the buyer's unpaid orders, the candidate
    # stock; then the stock UPDATE, the order, lines, ledger, reservations, status log, the
    # outbox events and the stored response (the shop comes from the process's cache; the
    # test's SAVEPOINT and RELEASE are the 2).
    with django_assert_num_queries(11 + 2):
        response = signed.post("/api/v1/orders", body, headers={"Idempotency-Key": "second"})
    assert response.status_code == 201
    created = response.json()
    order = Order.objects.get(order_no=created["order_no"])
    assert [line["id"] for line in created["lines"]] == list(order.lines.order_by("id").values_list("id", flat=True))
    assert created["payable_amount"] == "100.00"  # 90.00 + 10.00 shipping below 99.00
    assert all(stock_of(sku, sku.stocks.get().warehouse).reserved == 2 for sku in three_skus)
    assert ledger_mismatches() == []

    # The retry: the key's claim refused, the stored answer read (and the test's SAVEPOINT,
    # ROLLBACK TO it and RELEASE).
    with django_assert_num_queries(2 + 3):
        replayed = signed.post("/api/v1/orders", body, headers={"Idempotency-Key": "second"})
    assert replayed.json() == created
    assert Order.objects.count() == 2


def test_creating_one_order_and_reserving_its_stock_runs_9_statements(three_skus, django_assert_num_queries):
    with django_assert_num_queries(9):
        order = order_create(
            shop=None,
            buyer_id="b",
            lines=[line(sku, 2, "30.00") for sku in three_skus],
            recipient=recipient(),
            actor="t",
        )
    assert Reservation.objects.filter(reference=order.order_no).count() == 3
    assert OrderStatusLog.objects.filter(order=order).count() == 1


def test_reserving_one_reference_runs_7_statements(three_skus, django_assert_num_queries):
    # The claim, the reference's reservations, the candidate stock, the UPDATE, the ledger, the
    # reservations and the stock.changed event (the relay fans it out to its consumers).
    with django_assert_num_queries(7):
        stock_reserve(
            reference="R-1",
            requests=[StockRequest(sku.pk, 1, str(i)) for i, sku in enumerate(three_skus)],
            operator="t",
        )
    with django_assert_num_queries(2):  # again: the claim and the reservations it holds
        stock_reserve(
            reference="R-1",
            requests=[StockRequest(sku.pk, 1, str(i)) for i, sku in enumerate(three_skus)],
            operator="t",
        )
    assert Reservation.objects.filter(reference="R-1").count() == 3


def test_a_change_of_the_shop_warehouses_applies_to_the_next_order_at_once(shop, warehouse, django_assert_num_queries):
    sku = SkuFactory(price=Decimal("30.00"))
    other = WarehouseFactory()
    receive(sku, warehouse, 5)
    receive(sku, other, 5)
    shop.warehouses.set([warehouse])
    first = order_create(shop=shop, buyer_id="b", lines=[line(sku, 1, "30.00")], recipient=recipient(), actor="t")
    shop.warehouses.set([other])
    second = order_create(shop=shop, buyer_id="b", lines=[line(sku, 1, "30.00")], recipient=recipient(), actor="t")

    assert Reservation.objects.get(reference=first.order_no).stock.warehouse_id == warehouse.pk
    assert Reservation.objects.get(reference=second.order_no).stock.warehouse_id == other.pk
    with django_assert_num_queries(9):  # the shop's warehouses come from the process's cache
        order_create(shop=shop, buyer_id="b", lines=[line(sku, 1, "30.00")], recipient=recipient(), actor="t")
