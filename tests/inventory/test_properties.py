"""Any sequence of stock operations keeps every invariant and the ledger clean."""

import contextlib
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.exceptions import ApplicationError
from apps.inventory.models import Stock, Transfer
from apps.inventory.selectors import ledger_mismatches, reservations_for
from apps.inventory.services import (
    StockRequest,
    stock_adjust,
    stock_consume,
    stock_receive,
    stock_release,
    stock_reserve,
    stock_transfer_receive,
    stock_transfer_ship,
)
from tests.inventory.factories import SkuFactory, WarehouseFactory

pytestmark = pytest.mark.django_db

SKUS, WAREHOUSES, REFERENCES = 2, 3, 3

sku_i = st.integers(0, SKUS - 1)
wh_i = st.integers(0, WAREHOUSES - 1)
ref_i = st.integers(0, REFERENCES - 1)
operations = st.one_of(
    st.tuples(st.just("reserve"), ref_i, st.lists(st.tuples(sku_i, st.integers(1, 6)), min_size=1, max_size=3)),
    st.tuples(st.just("release"), ref_i),
    st.tuples(st.just("consume"), ref_i),
    st.tuples(st.just("adjust"), sku_i, wh_i, st.integers(0, 25)),
    st.tuples(st.just("receive"), sku_i, wh_i, st.integers(1, 15)),
    st.tuples(st.just("transfer"), sku_i, wh_i, wh_i, st.integers(1, 8)),
    st.tuples(st.just("arrive"), st.integers(0, 5)),
    st.tuples(st.just("repeat")),
)


@pytest.fixture
def world(db):
    skus = [SkuFactory() for _ in range(SKUS)]
    warehouses = [
        WarehouseFactory(province="上海"),
        WarehouseFactory(province="广东", kind="store"),
        WarehouseFactory(province="江苏", kind="factory"),
    ]
    return skus, warehouses, itertools.count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(operations, max_size=12))
def test_random_operations_keep_the_invariants(world, steps):
    skus, warehouses, counter = world
    run = next(counter)
    last = None

    def apply(step):
        kind, *args = step
        n = next(counter)
        if kind == "reserve":
            ref, lines = args
            stock_reserve(
                reference=f"R{run}-{ref}",
                requests=[
                    StockRequest(sku_id=skus[s].pk, quantity=q, line_reference=str(i)) for i, (s, q) in enumerate(lines)
                ],
                operator="prop",
            )
        elif kind == "release":
            stock_release(reference=f"R{run}-{args[0]}", operator="prop")
        elif kind == "consume":
            reference = f"R{run}-{args[0]}"
            held = reservations_for(reference)
            if held:
                stock_consume(reference=reference, allocations=held, operator="prop", consume_reference=f"F{run}-{n}")
        elif kind == "adjust":
            s, w, counted = args
            stock_adjust(
                sku_id=skus[s].pk, warehouse_id=warehouses[w].pk, counted=counted, reference=f"S{n}", operator="p"
            )
        elif kind == "receive":
            s, w, q = args
            stock_receive(sku_id=skus[s].pk, warehouse_id=warehouses[w].pk, quantity=q, reference=f"P{n}", operator="p")
        elif kind == "transfer":
            s, a, b, q = args
            stock_transfer_ship(
                reference=f"T{run}-{n}",
                sku_id=skus[s].pk,
                from_warehouse_id=warehouses[a].pk,
                to_warehouse_id=warehouses[b].pk,
                quantity=q,
                operator="p",
            )
        elif kind == "arrive":
            pending = list(
                Transfer.objects.filter(status="in_transit").order_by("id").values_list("reference", flat=True)
            )
            if pending:
                stock_transfer_receive(reference=pending[args[0] % len(pending)], operator="p")

    for step in steps:
        target = last if step[0] == "repeat" else step
        if target is None:
            continue
        with contextlib.suppress(ApplicationError):
            apply(target)
        last = target
        rows = list(Stock.objects.values_list("on_hand", "reserved"))
        assert all(0 <= reserved <= on_hand for on_hand, reserved in rows)
        assert ledger_mismatches() == []
