"""Races on MariaDB with real threads: no oversell, no deadlock error reaching a caller."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.inventory.gate import gate_counter, gate_sync
from apps.inventory.models import Reservation, Stock, StockMovement
from apps.inventory.selectors import ledger_mismatches
from apps.inventory.services import InsufficientStock, StockRequest, stock_release, stock_reserve
from tests.inventory.factories import SkuFactory
from tests.inventory.helpers import run_in_threads, stock_of

pytestmark = pytest.mark.django_db(transaction=True)


def _reserve_one(sku, reference: str) -> str:
    try:
        stock_reserve(reference=reference, requests=[StockRequest(sku_id=sku.pk, quantity=1)], operator="test")
    except InsufficientStock:
        return "refused"
    return "reserved"


def _reserve_one_of(sku, reference: str, *, quantity: int) -> str:
    try:
        stock_reserve(reference=reference, requests=[StockRequest(sku_id=sku.pk, quantity=quantity)], operator="test")
    except InsufficientStock:
        return "refused"
    return "reserved"


def test_twenty_workers_fifty_reservations_each_against_500_units(sku, warehouse, receive):
    receive(sku, warehouse, 500)

    def worker(i: int) -> list:
        return [_reserve_one(sku, f"SO-{i}-{j}") for j in range(50)]

    results = run_in_threads(worker, 20)

    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    outcomes = [o for r in results for o in r]
    assert outcomes.count("reserved") == 500
    assert outcomes.count("refused") == 500
    stock = stock_of(sku, warehouse)
    assert (stock.on_hand, stock.reserved, stock.available) == (500, 500, 0)
    assert Reservation.objects.filter(status="active").count() == 500
    assert ledger_mismatches() == []


def test_fifty_buyers_for_the_last_unit(sku, warehouse, receive):
    receive(sku, warehouse, 1)
    results = run_in_threads(lambda i: _reserve_one(sku, f"SO-{i}"), 50)
    assert results.count("reserved") == 1
    assert results.count("refused") == 49
    assert stock_of(sku, warehouse).reserved == 1


def test_orders_touching_the_same_skus_in_opposite_order_never_deadlock(warehouse, receive):
    skus = [SkuFactory() for _ in range(4)]
    for s in skus:
        receive(s, warehouse, 1000)

    def worker(i: int) -> int:
        ordered = skus if i % 2 == 0 else list(reversed(skus))
        for j in range(15):
            stock_reserve(
                reference=f"SO-{i}-{j}",
                requests=[StockRequest(sku_id=s.pk, quantity=1, line_reference=str(n)) for n, s in enumerate(ordered)],
                operator="test",
            )
            if j % 3 == 0:
                stock_release(reference=f"SO-{i}-{j}", operator="test")
        return 15

    results = run_in_threads(worker, 10)

    assert results == [15] * 10
    reserved = sorted(Stock.objects.filter(sku__in=skus).values_list("reserved", flat=True))
    assert reserved == [100, 100, 100, 100]
    assert ledger_mismatches() == []


def test_hot_sku_gate_never_admits_more_than_the_stock(sku, warehouse, receive):
    sku.is_hot = True
    sku.save()
    receive(sku, warehouse, 30)
    gate_sync()
    assert gate_counter(sku.pk) == 30

    results = run_in_threads(lambda i: [_reserve_one(sku, f"FS-{i}-{j}") for j in range(5)], 20)

    outcomes = [o for r in results for o in r]
    assert outcomes.count("reserved") == 30
    assert stock_of(sku, warehouse).reserved == 30
    assert gate_counter(sku.pk) == 0

    with CaptureQueriesContext(connection) as queries, pytest.raises(InsufficientStock) as caught:
        stock_reserve(reference="FS-late", requests=[StockRequest(sku_id=sku.pk, quantity=1)], operator="test")
    assert len(queries) == 0
    assert caught.value.extra["shortages"] == [{"sku_id": sku.pk, "sku_code": sku.code, "requested": 1, "available": 0}]

    assert stock_release(reference="FS-0-0", operator="test") == 1
    assert gate_counter(sku.pk) == 1
    assert _reserve_one(sku, "FS-after-release") == "reserved"
    assert ledger_mismatches() == []


def test_ten_simultaneous_first_calls_with_one_reference_reserve_once(sku, warehouse, receive):
    other = SkuFactory()
    receive(sku, warehouse, 100)
    receive(other, warehouse, 100)
    requests = [
        StockRequest(sku_id=sku.pk, quantity=3, line_reference="1"),
        StockRequest(sku_id=other.pk, quantity=2, line_reference="2"),
    ]

    results = run_in_threads(lambda i: stock_reserve(reference="SO-SAME", requests=requests, operator="test"), 10)

    assert [r for r in results if isinstance(r, Exception)] == []
    held = [sorted((a.line_reference, a.sku_id, a.warehouse_id, a.quantity) for a in r) for r in results]
    assert held == [[("1", sku.pk, warehouse.pk, 3), ("2", other.pk, warehouse.pk, 2)]] * 10
    assert Reservation.objects.filter(reference="SO-SAME", status="active").count() == 2
    assert (stock_of(sku, warehouse).reserved, stock_of(other, warehouse).reserved) == (3, 2)
    assert StockMovement.objects.filter(reference="SO-SAME", reason="reserve").count() == 2
    assert ledger_mismatches() == []
    assert stock_release(reference="SO-SAME", operator="test") == 5
    assert (stock_of(sku, warehouse).reserved, stock_of(other, warehouse).reserved) == (0, 0)


def test_ten_simultaneous_calls_with_one_reference_and_no_stock_are_all_refused(sku, warehouse, receive):
    receive(sku, warehouse, 1)

    results = run_in_threads(
        lambda i: _reserve_one_of(sku, "SO-SHORT", quantity=2),
        10,
    )

    assert results == ["refused"] * 10
    assert stock_of(sku, warehouse).reserved == 0
    assert not Reservation.objects.filter(reference="SO-SHORT").exists()
    assert ledger_mismatches() == []
