from itertools import combinations

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from apps.inventory.models import Stock, Warehouse
from apps.inventory.regions import province_key, region_for
from apps.inventory.services import Destination, InsufficientStock, StockRequest, sourcing_plan
from apps.inventory.sourcing import plan_packages
from tests.inventory.factories import SkuFactory, WarehouseFactory

pytestmark = pytest.mark.django_db


def plan(lines, province="", warehouse_ids=None):
    return sourcing_plan(
        requests=[StockRequest(sku_id=s.pk, quantity=q, line_reference=str(i)) for i, (s, q) in enumerate(lines)],
        destination=Destination(province=province) if province else None,
        warehouse_ids=warehouse_ids,
    )


@pytest.mark.parametrize(
    ("written", "key", "region"),
    [
        ("浙江省", "浙江", "华东"),
        ("浙江", "浙江", "华东"),
        ("北京市", "北京", "华北"),
        ("广西壮族自治区", "广西", "华南"),
        ("新疆维吾尔自治区", "新疆", "西北"),
        ("内蒙古自治区", "内蒙古", "华北"),
        ("黑龙江省", "黑龙江", "东北"),
        ("重庆", "重庆", "西南"),
        ("河南省", "河南", "华中"),
        ("Atlantis", "Atlantis", ""),
    ],
)
def test_provinces_as_platforms_write_them(written, key, region):
    assert province_key(written) == key
    assert region_for(written) == region


def test_warehouse_region_is_filled_from_the_province():
    assert WarehouseFactory(province="四川省").region == "西南"


def test_one_warehouse_that_ships_everything_wins_over_a_nearer_split(receive):
    a, b = SkuFactory(), SkuFactory()
    near = WarehouseFactory(province="广东", priority=1)
    far = WarehouseFactory(province="黑龙江", priority=200)
    receive(a, near, 5)
    receive(a, far, 5)
    receive(b, far, 5)
    packages = plan([(a, 2), (b, 1)], province="广东省")
    assert [p.warehouse_id for p in packages] == [far.pk]
    assert sum(x.quantity for x in packages[0].allocations) == 3


def test_nearness_same_province_then_region_then_priority(receive):
    sku = SkuFactory()
    elsewhere = WarehouseFactory(province="北京", priority=1)
    same_region = WarehouseFactory(province="江苏", priority=50)
    same_province = WarehouseFactory(province="浙江省", priority=90)
    for w in (elsewhere, same_region, same_province):
        receive(sku, w, 5)
    assert plan([(sku, 1)], province="浙江")[0].warehouse_id == same_province.pk
    assert plan([(sku, 1)], province="上海")[0].warehouse_id == same_region.pk
    assert plan([(sku, 1)], province="四川")[0].warehouse_id == elsewhere.pk
    assert plan([(sku, 1)])[0].warehouse_id == elsewhere.pk


def test_split_uses_the_fewest_packages(receive):
    a, b, c = SkuFactory(), SkuFactory(), SkuFactory()
    only_a = WarehouseFactory(province="上海", priority=1)
    only_b = WarehouseFactory(province="上海", priority=2)
    b_and_c = WarehouseFactory(province="四川", priority=90)
    receive(a, only_a, 5)
    receive(b, only_b, 5)
    receive(b, b_and_c, 5)
    receive(c, b_and_c, 5)
    packages = plan([(a, 1), (b, 2), (c, 3)], province="上海")
    assert sorted(p.warehouse_id for p in packages) == sorted([only_a.pk, b_and_c.pk])
    shipped = {(x.sku_id, x.warehouse_id, x.quantity) for p in packages for x in p.allocations}
    assert shipped == {(a.pk, only_a.pk, 1), (b.pk, b_and_c.pk, 2), (c.pk, b_and_c.pk, 3)}


def test_a_split_uses_the_fewest_packages_even_when_skus_are_split(receive):
    a, b = SkuFactory(), SkuFactory()
    w1, w2, w3 = (WarehouseFactory(priority=p) for p in (1, 2, 3))
    for warehouse, (qty_a, qty_b) in ((w1, (9, 1)), (w2, (1, 9)), (w3, (6, 6))):
        receive(a, warehouse, qty_a)
        receive(b, warehouse, qty_b)
    packages = plan([(a, 10), (b, 10)])
    assert sorted(p.warehouse_id for p in packages) == sorted([w1.pk, w2.pk])
    shipped = {(x.sku_id, x.warehouse_id, x.quantity) for p in packages for x in p.allocations}
    assert shipped == {(a.pk, w1.pk, 9), (a.pk, w2.pk, 1), (b.pk, w1.pk, 1), (b.pk, w2.pk, 9)}


def test_a_sku_no_warehouse_holds_whole_is_split_across_warehouses(receive):
    sku = SkuFactory()
    first = WarehouseFactory(priority=1)
    second = WarehouseFactory(priority=2)
    receive(sku, first, 3)
    receive(sku, second, 4)
    packages = plan([(sku, 6)])
    assert {(p.warehouse_id, sum(a.quantity for a in p.allocations)) for p in packages} in (
        {(first.pk, 2), (second.pk, 4)},
        {(first.pk, 3), (second.pk, 3)},
    )


def test_nothing_available_names_every_short_sku(receive):
    a, b = SkuFactory(code="A-1"), SkuFactory(code="B-1")
    receive(a, WarehouseFactory(), 1)
    with pytest.raises(InsufficientStock) as caught:
        plan([(a, 2), (b, 1)])
    assert caught.value.extra["shortages"] == [
        {"sku_id": a.pk, "sku_code": "A-1", "requested": 2, "available": 1},
        {"sku_id": b.pk, "sku_code": "B-1", "requested": 1, "available": 0},
    ]


def test_inactive_and_offline_warehouses_are_skipped_and_warehouse_ids_restrict(receive):
    sku = SkuFactory()
    inactive = WarehouseFactory(is_active=False, priority=1)
    offline_store = WarehouseFactory(kind="store", accepts_online_orders=False, priority=2)
    online = WarehouseFactory(priority=3)
    other = WarehouseFactory(priority=4)
    for w in (inactive, offline_store, online, other):
        receive(sku, w, 5)
    assert plan([(sku, 5)])[0].warehouse_id == online.pk
    assert plan([(sku, 5)], warehouse_ids=[other.pk])[0].warehouse_id == other.pk
    with pytest.raises(InsufficientStock):
        plan([(sku, 11)])
    with pytest.raises(InsufficientStock):
        plan([(sku, 1)], warehouse_ids=[inactive.pk, offline_store.pk])


def _fewest_by_brute_force(needs: dict[int, int], stock: dict[int, dict[int, int]]) -> int:
    for size in range(1, len(stock) + 1):
        for combo in combinations(stock, size):
            if all(sum(stock[w].get(s, 0) for w in combo) >= q for s, q in needs.items()):
                return size
    raise AssertionError("infeasible")


@settings(max_examples=300, deadline=None)
@given(
    stock=st.lists(st.lists(st.integers(0, 6), min_size=3, max_size=3), min_size=1, max_size=6),
    wanted=st.lists(st.integers(0, 12), min_size=3, max_size=3),
)
@example(stock=[[0, 4, 0], [1, 2, 0], [2, 2, 0]], wanted=[3, 4, 0])
def test_the_split_plan_never_uses_more_packages_than_any_feasible_plan(stock, wanted):
    """Pure planner on unsaved rows: 3 SKUs, up to 6 warehouses, compared with brute force.
    Each SKU's need is capped at what all warehouses hold, so every example is feasible."""
    by_warehouse = {w: {s: q for s, q in enumerate(row, start=1) if q} for w, row in enumerate(stock, start=1)}
    totals = {s: sum(row.get(s, 0) for row in by_warehouse.values()) for s in (1, 2, 3)}
    needs = {s: min(q, totals[s]) for s, q in enumerate(wanted, start=1) if min(q, totals[s])}
    assume(needs)
    warehouses = {w: Warehouse(pk=w, code=f"W{w}", priority=w, province="") for w in by_warehouse}
    rows = [
        Stock(pk=w * 10 + s, sku_id=s, warehouse=warehouses[w], on_hand=q, reserved=0)
        for w, row in by_warehouse.items()
        for s, q in row.items()
    ]
    requests = [StockRequest(sku_id=s, quantity=q, line_reference=str(s)) for s, q in needs.items()]

    packages = plan_packages(requests=requests, stocks=rows, destination=None)

    assert len(packages) == _fewest_by_brute_force(needs, by_warehouse)
    shipped: dict[tuple[int, int], int] = {}
    for package in packages:
        assert package.allocations
        for a in package.allocations:
            assert a.warehouse_id == package.warehouse_id
            shipped[(a.sku_id, a.warehouse_id)] = shipped.get((a.sku_id, a.warehouse_id), 0) + a.quantity
    assert all(q <= by_warehouse[w].get(s, 0) for (s, w), q in shipped.items())
    assert {s: sum(q for (sku, _w), q in shipped.items() if sku == s) for s in needs} == needs
