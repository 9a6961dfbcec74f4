"""``stock_reserve_many``: a batch of references reserved together, each all-or-nothing; and
the purge of the claim rows reservations lock."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.inventory.gate import gate_counter, gate_sync
from apps.inventory.models import Reservation, ReservationClaim, StockMovement
from apps.inventory.selectors import ledger_mismatches
from apps.inventory.services import (
    ReserveItem,
    StockRequest,
    stock_plan,
    stock_plan_record,
    stock_plan_take,
    stock_reserve,
    stock_reserve_many,
)
from apps.inventory.tasks import reservation_claims_purge_task
from tests.inventory.factories import SkuFactory, WarehouseFactory
from tests.inventory.helpers import stock_of

pytestmark = pytest.mark.django_db


def item(reference, *lines, warehouse_ids=None):
    return ReserveItem(
        reference=reference,
        requests=[
            StockRequest(sku_id=sku.pk, quantity=n, line_reference=f"{reference}-{i}")
            for i, (sku, n) in enumerate(lines)
        ],
        warehouse_ids=warehouse_ids,
    )


def test_items_take_stock_in_order_and_a_short_one_reserves_nothing(sku, warehouse, receive):
    other = SkuFactory()
    receive(sku, warehouse, 5)
    receive(other, warehouse, 5)

    result = stock_reserve_many(
        items=[item("SO1", (sku, 3), (other, 1)), item("SO2", (sku, 3), (other, 1)), item("SO3", (sku, 2))],
        operator="test",
    )

    assert set(result.allocations) == {"SO1", "SO3"}
    assert [(s.sku_code, s.requested, s.available) for s in result.shortages["SO2"].shortages] == [(sku.code, 3, 2)]
    assert not Reservation.objects.filter(reference="SO2").exists()
    assert stock_of(sku, warehouse).reserved == 5
    assert stock_of(other, warehouse).reserved == 1
    assert not ledger_mismatches()


def test_a_repeated_batch_changes_nothing_and_returns_the_same_allocations(sku, warehouse, receive):
    receive(sku, warehouse, 10)
    items = [item("SO1", (sku, 2)), item("SO2", (sku, 3))]

    first = stock_reserve_many(items=items, operator="test")
    again = stock_reserve_many(items=items, operator="test")

    assert again.allocations == first.allocations
    assert stock_of(sku, warehouse).reserved == 5
    assert StockMovement.objects.filter(reason=StockMovement.Reason.RESERVE).count() == 2


def test_a_reference_reserved_one_by_one_is_not_reserved_again_by_a_batch(sku, warehouse, receive):
    receive(sku, warehouse, 10)
    stock_reserve(reference="SO1", requests=[StockRequest(sku_id=sku.pk, quantity=4)], operator="test")

    result = stock_reserve_many(items=[item("SO1", (sku, 4)), item("SO2", (sku, 1))], operator="test")

    assert set(result.allocations) == {"SO1", "SO2"}
    assert stock_of(sku, warehouse).reserved == 5


def test_each_item_keeps_to_its_own_warehouses(sku, warehouse, receive):
    elsewhere = WarehouseFactory()
    receive(sku, warehouse, 1)
    receive(sku, elsewhere, 10)

    result = stock_reserve_many(items=[item("SO1", (sku, 2), warehouse_ids=[warehouse.pk])], operator="test")

    assert "SO1" in result.shortages
    assert stock_of(sku, elsewhere).reserved == 0


def test_hot_skus_pass_the_gate_per_item(sku, warehouse, receive):
    sku.is_hot = True
    sku.save()
    receive(sku, warehouse, 3)
    gate_sync()

    result = stock_reserve_many(items=[item("SO1", (sku, 2)), item("SO2", (sku, 2))], operator="test")

    assert set(result.allocations) == {"SO1"}
    assert set(result.shortages) == {"SO2"}
    assert gate_counter(sku.pk) == 1
    assert stock_of(sku, warehouse).reserved == 2


def test_old_claims_are_purged_and_a_later_reservation_claims_again(sku, warehouse, receive):
    receive(sku, warehouse, 10)
    stock_reserve(reference="SO-OLD", requests=[StockRequest(sku_id=sku.pk, quantity=1)], operator="test")
    stock_reserve(reference="SO-NEW", requests=[StockRequest(sku_id=sku.pk, quantity=1)], operator="test")
    ReservationClaim.objects.filter(reference="SO-OLD").update(claimed_at=timezone.now() - timedelta(days=8))

    assert reservation_claims_purge_task() == 1
    assert reservation_claims_purge_task() == 0
    assert set(ReservationClaim.objects.values_list("reference", flat=True)) == {"SO-NEW"}

    again = stock_reserve(reference="SO-OLD", requests=[StockRequest(sku_id=sku.pk, quantity=1)], operator="test")
    assert len(again) == 1
    assert stock_of(sku, warehouse).reserved == 2  # the held reservation came back, nothing reserved twice
    assert ReservationClaim.objects.filter(reference="SO-OLD").exists()


def test_a_plan_that_lost_its_stock_to_a_competitor_is_made_again_and_never_oversells(sku, receive):
    near = WarehouseFactory(province="上海市", priority=1)
    far = WarehouseFactory(province="广东省", priority=2)
    receive(sku, near, 2)
    receive(sku, far, 2)
    plan = stock_plan(items=[item("SO1", (sku, 2))])
    assert plan.allocations["SO1"][0].warehouse_id == near.pk
    stock_reserve(reference="RIVAL", requests=[StockRequest(sku_id=sku.pk, quantity=1)], operator="test")

    taken = stock_plan_take(plan)  # the planned UPDATE fails as a whole; planned again from a fresh read
    stock_plan_record(taken, operator="test")

    assert [(a.warehouse_id, a.quantity) for a in taken.allocations["SO1"]] == [(far.pk, 2)]
    assert (stock_of(sku, near).reserved, stock_of(sku, far).reserved) == (1, 2)
    assert ledger_mismatches() == []


def test_a_plan_whose_stock_is_gone_everywhere_reserves_nothing(sku, warehouse, receive):
    receive(sku, warehouse, 2)
    plan = stock_plan(items=[item("SO1", (sku, 2))])
    stock_reserve(reference="RIVAL", requests=[StockRequest(sku_id=sku.pk, quantity=1)], operator="test")

    taken = stock_plan_take(plan)

    assert taken.allocations == {}
    assert taken.insufficient("SO1").extra["shortages"] == [
        {"sku_id": sku.pk, "sku_code": sku.code, "requested": 2, "available": 1}
    ]
    assert stock_of(sku, warehouse).reserved == 1
    assert not Reservation.objects.filter(reference="SO1").exists()
