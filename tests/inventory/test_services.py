import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.exceptions import ApplicationError
from apps.core.models import OutboxEvent
from apps.inventory.models import Reservation, StockMovement, Transfer
from apps.inventory.selectors import ledger_mismatches
from apps.inventory.services import (
    Allocation,
    Destination,
    InsufficientStock,
    StockRequest,
    reservations_for,
    stock_adjust,
    stock_consume,
    stock_reallocate,
    stock_receive,
    stock_release,
    stock_reserve,
    stock_return_to_stock,
    stock_transfer_receive,
    stock_transfer_ship,
)
from tests.inventory.factories import SkuFactory, WarehouseFactory
from tests.inventory.helpers import stock_of

pytestmark = pytest.mark.django_db


def reserve(reference, *lines, **kwargs):
    requests = [StockRequest(sku_id=sku.pk, quantity=qty, line_reference=line) for line, sku, qty in lines]
    return stock_reserve(reference=reference, requests=requests, operator="test", **kwargs)


def test_reserve_holds_stock_and_writes_ledger_reservations_and_one_event(sku, warehouse, receive):
    other = SkuFactory()
    receive(sku, warehouse, 10)
    receive(other, warehouse, 5)
    events_before = OutboxEvent.objects.filter(topic="stock.changed").count()

    allocations = reserve("SO1", ("1", sku, 3), ("2", other, 5))

    assert sorted(allocations, key=lambda a: a.line_reference) == [
        Allocation(line_reference="1", sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=3),
        Allocation(line_reference="2", sku_id=other.pk, warehouse_id=warehouse.pk, quantity=5),
    ]
    assert (stock_of(sku, warehouse).reserved, stock_of(sku, warehouse).available) == (3, 7)
    assert stock_of(other, warehouse).available == 0
    assert Reservation.objects.filter(reference="SO1", status="active").count() == 2
    assert StockMovement.objects.filter(reference="SO1", reason="reserve").count() == 2
    events = OutboxEvent.objects.filter(topic="stock.changed").order_by("id")[events_before:]
    assert len(events) == 1
    assert events[0].payload == {"sku_ids": sorted([sku.pk, other.pk]), "warehouse_ids": [warehouse.pk]}
    assert ledger_mismatches() == []


def test_reserve_is_idempotent_per_reference(sku, warehouse, receive):
    receive(sku, warehouse, 10)
    first = reserve("SO1", ("1", sku, 4))
    again = reserve("SO1", ("1", sku, 4))
    assert again == first
    assert stock_of(sku, warehouse).reserved == 4
    assert Reservation.objects.filter(reference="SO1").count() == 1


def test_same_sku_on_two_lines_is_counted_together(sku, warehouse, receive):
    receive(sku, warehouse, 1)
    with pytest.raises(InsufficientStock) as caught:
        reserve("SO1", ("1", sku, 1), ("2", sku, 1))
    assert caught.value.code == "insufficient_stock"
    assert caught.value.status_code == 409
    assert caught.value.extra["shortages"] == [{"sku_id": sku.pk, "sku_code": sku.code, "requested": 2, "available": 1}]
    assert stock_of(sku, warehouse).reserved == 0
    assert not Reservation.objects.exists()


def test_shortage_names_every_short_sku_and_changes_nothing(sku, warehouse, receive):
    short_too = SkuFactory(code="SHOE-42")
    fine = SkuFactory()
    receive(sku, warehouse, 2)
    receive(fine, warehouse, 9)
    with pytest.raises(InsufficientStock) as caught:
        reserve("SO1", ("1", sku, 3), ("2", fine, 1), ("3", short_too, 1))
    assert {(s["sku_code"], s["requested"], s["available"]) for s in caught.value.extra["shortages"]} == {
        (sku.code, 3, 2),
        ("SHOE-42", 1, 0),
    }
    assert stock_of(fine, warehouse).reserved == 0
    assert not StockMovement.objects.filter(reason="reserve").exists()


def test_reserve_refuses_bad_quantities_and_unknown_skus(sku, warehouse, receive):
    receive(sku, warehouse, 5)
    with pytest.raises(ApplicationError) as caught:
        reserve("SO1", ("1", sku, 0))
    assert caught.value.code == "invalid_quantity"
    with pytest.raises(ApplicationError) as caught:
        stock_reserve(reference="SO2", requests=[StockRequest(sku_id=987654, quantity=1)], operator="test")
    assert caught.value.code == "sku_not_found"
    assert stock_of(sku, warehouse).reserved == 0


def test_reserve_refuses_an_inactive_sku(sku, warehouse, receive):
    receive(sku, warehouse, 5)
    sku.is_active = False
    sku.save()
    with pytest.raises(ApplicationError) as caught:
        reserve("SO1", ("1", sku, 1))
    assert caught.value.code == "sku_inactive"


def test_reserve_query_count_does_not_grow_with_lines(warehouse, receive):
    skus = [SkuFactory() for _ in range(50)]
    for s in skus:
        receive(s, warehouse, 3)
    with CaptureQueriesContext(connection) as one_line:
        reserve("SO1", ("1", skus[0], 1))
    with CaptureQueriesContext(connection) as fifty_lines:
        reserve("SO2", *[(str(i), s, 1) for i, s in enumerate(skus)])
    assert len(fifty_lines) == len(one_line)
    # 7 (claim, existing, candidates, UPDATE, movements, reservations, event) + 1 delivery + 2 savepoint
    assert len(one_line) <= 10
    assert stock_of(skus[49], warehouse).reserved == 1


def test_release_gives_stock_back_and_is_idempotent(sku, warehouse, receive):
    receive(sku, warehouse, 10)
    reserve("SO1", ("1", sku, 4), ("2", sku, 2))

    assert stock_release(reference="SO1", operator="test", line_references=["2"]) == 2
    assert stock_of(sku, warehouse).reserved == 4
    assert stock_release(reference="SO1", operator="test") == 4
    assert stock_release(reference="SO1", operator="test") == 0
    assert stock_of(sku, warehouse).reserved == 0
    assert reservations_for("SO1") == []
    assert ledger_mismatches() == []


def test_consume_ships_reserved_goods_once_per_consume_reference(sku, warehouse, receive):
    receive(sku, warehouse, 10)
    reserve("SO1", ("1", sku, 5))
    shipment = [Allocation(line_reference="1", sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=2)]

    stock_consume(reference="SO1", allocations=shipment, operator="wms", consume_reference="F1")
    stock_consume(reference="SO1", allocations=shipment, operator="wms", consume_reference="F1")

    stock = stock_of(sku, warehouse)
    assert (stock.on_hand, stock.reserved) == (8, 3)
    assert reservations_for("SO1") == [
        Allocation(line_reference="1", sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=3)
    ]
    stock_consume(
        reference="SO1",
        allocations=[Allocation(line_reference="1", sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=3)],
        operator="wms",
        consume_reference="F2",
    )
    stock = stock_of(sku, warehouse)
    assert (stock.on_hand, stock.reserved) == (5, 0)
    assert sum(Reservation.objects.filter(reference="SO1", status="consumed").values_list("quantity", flat=True)) == 5
    assert ledger_mismatches() == []


def test_consume_without_a_matching_reservation_changes_nothing(sku, warehouse, receive):
    receive(sku, warehouse, 10)
    reserve("SO1", ("1", sku, 2))
    with pytest.raises(ApplicationError) as caught:
        stock_consume(
            reference="SO1",
            allocations=[Allocation(line_reference="1", sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=3)],
            operator="wms",
            consume_reference="F1",
        )
    assert caught.value.code == "reservation_not_found"
    stock = stock_of(sku, warehouse)
    assert (stock.on_hand, stock.reserved) == (10, 2)


def test_reallocate_moves_reservations_between_warehouses(sku, warehouse, receive):
    other = WarehouseFactory(province="广东", city="广州")
    receive(sku, warehouse, 5)
    receive(sku, other, 5)
    reserve("SO1", ("1", sku, 3), warehouse_ids=[warehouse.pk])
    target = [Allocation(line_reference="1", sku_id=sku.pk, warehouse_id=other.pk, quantity=3)]

    assert stock_reallocate(reference="SO1", allocations=target, operator="cs") == target
    assert stock_reallocate(reference="SO1", allocations=target, operator="cs") == target
    assert stock_of(sku, warehouse).reserved == 0
    assert stock_of(sku, other).reserved == 3
    assert ledger_mismatches() == []


def test_reallocate_to_a_short_warehouse_changes_nothing(sku, warehouse, receive):
    other = WarehouseFactory()
    receive(sku, warehouse, 5)
    receive(sku, other, 1)
    reserve("SO1", ("1", sku, 3), warehouse_ids=[warehouse.pk])
    with pytest.raises(InsufficientStock):
        stock_reallocate(
            reference="SO1",
            allocations=[Allocation(line_reference="1", sku_id=sku.pk, warehouse_id=other.pk, quantity=3)],
            operator="cs",
        )
    assert stock_of(sku, warehouse).reserved == 3
    assert stock_of(sku, other).reserved == 0


def test_reallocate_must_keep_line_quantities(sku, warehouse, receive):
    receive(sku, warehouse, 5)
    reserve("SO1", ("1", sku, 3))
    with pytest.raises(ApplicationError) as caught:
        stock_reallocate(
            reference="SO1",
            allocations=[Allocation(line_reference="1", sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=4)],
            operator="cs",
        )
    assert caught.value.code == "reallocation_mismatch"


def test_adjust_sets_counted_value_never_below_reserved_and_is_idempotent(sku, warehouse, receive):
    receive(sku, warehouse, 10)
    reserve("SO1", ("1", sku, 6))

    stock_adjust(sku_id=sku.pk, warehouse_id=warehouse.pk, counted=8, reference="ST1", operator="wh")
    stock_adjust(sku_id=sku.pk, warehouse_id=warehouse.pk, counted=8, reference="ST1", operator="wh")
    assert stock_of(sku, warehouse).on_hand == 8
    stock_adjust(sku_id=sku.pk, warehouse_id=warehouse.pk, delta=-1, reference="ST2", operator="wh")
    assert stock_of(sku, warehouse).on_hand == 7

    with pytest.raises(ApplicationError) as caught:
        stock_adjust(sku_id=sku.pk, warehouse_id=warehouse.pk, counted=5, reference="ST3", operator="wh")
    assert caught.value.code == "below_reserved"
    assert stock_of(sku, warehouse).on_hand == 7
    assert not StockMovement.objects.filter(reference="ST3").exists()
    assert ledger_mismatches() == []


def test_receive_is_idempotent_per_reference(sku, warehouse):
    for _ in range(2):
        stock_receive(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=7, reference="PO1", operator="wh")
    assert stock_of(sku, warehouse).on_hand == 7
    stock_receive(sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=3, reference="PO2", operator="wh")
    assert stock_of(sku, warehouse).on_hand == 10


def test_transfer_goes_out_now_and_in_on_arrival(sku, warehouse, receive):
    store = WarehouseFactory(kind="store", province="浙江", city="杭州")
    receive(sku, warehouse, 10)
    reserve("SO1", ("1", sku, 4))

    with pytest.raises(InsufficientStock):
        stock_transfer_ship(
            reference="TR1",
            sku_id=sku.pk,
            from_warehouse_id=warehouse.pk,
            to_warehouse_id=store.pk,
            quantity=7,
            operator="wh",
        )
    for _ in range(2):
        transfer = stock_transfer_ship(
            reference="TR1",
            sku_id=sku.pk,
            from_warehouse_id=warehouse.pk,
            to_warehouse_id=store.pk,
            quantity=6,
            operator="wh",
        )
    assert transfer.status == Transfer.Status.IN_TRANSIT
    assert (stock_of(sku, warehouse).on_hand, stock_of(sku, warehouse).reserved) == (4, 4)
    assert ledger_mismatches() == []

    with pytest.raises(ApplicationError) as caught:
        stock_transfer_ship(
            reference="TR1",
            sku_id=sku.pk,
            from_warehouse_id=warehouse.pk,
            to_warehouse_id=store.pk,
            quantity=1,
            operator="wh",
        )
    assert caught.value.code == "reference_conflict"

    for _ in range(2):
        transfer = stock_transfer_receive(reference="TR1", operator="store")
    assert transfer.status == Transfer.Status.RECEIVED
    assert stock_of(sku, store).on_hand == 6
    assert ledger_mismatches() == []


def test_return_to_stock_sellable_goes_back_damaged_is_only_recorded(sku, warehouse, receive):
    receive(sku, warehouse, 1)
    for _ in range(2):
        stock_return_to_stock(
            sku_id=sku.pk,
            warehouse_id=warehouse.pk,
            quantity=2,
            inspection="sellable",
            reference="AS1:1",
            operator="cs",
        )
    stock_return_to_stock(
        sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=1, inspection="damaged", reference="AS1:2", operator="cs"
    )
    assert stock_of(sku, warehouse).on_hand == 3
    damaged = StockMovement.objects.get(reference="AS1:2")
    assert (damaged.delta_on_hand, damaged.reason) == (0, "return")
    assert "damaged" in damaged.note
    with pytest.raises(ApplicationError) as caught:
        stock_return_to_stock(
            sku_id=sku.pk, warehouse_id=warehouse.pk, quantity=1, inspection="lost", reference="AS1:3", operator="cs"
        )
    assert caught.value.code == "invalid_inspection"


def test_reserve_prefers_the_nearest_warehouse(sku, receive):
    shanghai = WarehouseFactory(province="上海市", city="上海", priority=10)
    guangzhou = WarehouseFactory(province="广东省", city="广州", priority=50)
    receive(sku, shanghai, 5)
    receive(sku, guangzhou, 5)
    allocations = reserve("SO1", ("1", sku, 2), destination=Destination(province="广东", city="深圳"))
    assert [a.warehouse_id for a in allocations] == [guangzhou.pk]
