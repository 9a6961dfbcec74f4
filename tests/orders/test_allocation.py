import pytest

from apps.core.exceptions import Conflict
from apps.core.models import OutboxEvent
from apps.inventory.models import StockMovement, Warehouse
from apps.inventory.selectors import ledger_mismatches, reservations_for
from apps.inventory.services import stock_release
from apps.orders.models import FS, OrderStatus
from apps.orders.services import order_update_address
from apps.orders.services.allocation import order_allocate
from tests.orders.factories import create_order, pay, recipient
from tests.orders.factories_fulfillment import (
    SkuFactory,
    WarehouseFactory,
    fulfillments_of,
    paid_order,
    receive,
    reload,
    stock_of,
)

pytestmark = pytest.mark.django_db


def lines_by_warehouse(order) -> dict[str, list[tuple[str, int]]]:
    return {
        f.warehouse.code: sorted((line.sku.code, line.quantity) for line in f.lines.select_related("sku"))
        for f in fulfillments_of(order).select_related("warehouse")
    }


def test_one_warehouse_with_everything_gives_one_fulfillment():
    north, south = WarehouseFactory(), WarehouseFactory()
    a, b = SkuFactory(), SkuFactory()
    for sku in (a, b):
        receive(sku, north, 10)
        receive(sku, south, 10)
    order = paid_order([(a, 2), (b, 3)])

    result = order_allocate(order_no=order.order_no, actor="system:audit")

    assert result.status == OrderStatus.PENDING_SHIPMENT
    (_code, lines), *others = lines_by_warehouse(order).items()
    assert others == []
    assert lines == sorted([(a.code, 2), (b.code, 3)])
    fulfillment = fulfillments_of(order).get()
    assert fulfillment.status == FS.PENDING
    assert fulfillment.fulfillment_no.startswith("F") and len(fulfillment.fulfillment_no) == 21
    event = OutboxEvent.objects.get(topic="fulfillment.created")
    assert event.payload["order_nos"] == [order.order_no]
    assert event.payload["fulfillment_no"] == fulfillment.fulfillment_no
    assert OutboxEvent.objects.filter(topic="order.pending_shipment", aggregate_id=order.order_no).exists()


def test_stock_spread_over_warehouses_splits_the_order():
    north, south = WarehouseFactory(), WarehouseFactory()
    a, b = SkuFactory(), SkuFactory()
    receive(a, north, 5)
    receive(b, south, 5)
    order = paid_order([(a, 2), (b, 1)])

    order_allocate(order_no=order.order_no, actor="t")

    assert lines_by_warehouse(order) == {north.code: [(a.code, 2)], south.code: [(b.code, 1)]}
    assert OutboxEvent.objects.filter(topic="fulfillment.created").count() == 2
    # Allocation moves no stock: the reservation made at creation simply holds on.
    assert (stock_of(a, north).on_hand, stock_of(a, north).reserved) == (5, 2)
    assert (stock_of(b, south).on_hand, stock_of(b, south).reserved) == (5, 1)
    assert ledger_mismatches() == []


def test_one_line_split_across_two_warehouses():
    north, south = WarehouseFactory(), WarehouseFactory()
    a = SkuFactory()
    receive(a, north, 3)
    receive(a, south, 4)
    order = paid_order([(a, 6)])

    order_allocate(order_no=order.order_no, actor="t")

    packages = lines_by_warehouse(order)
    assert sum(q for lines in packages.values() for _code, q in lines) == 6
    assert len(packages) == 2


def test_order_without_reservation_reserves_again():
    warehouse, sku = WarehouseFactory(), SkuFactory()
    receive(sku, warehouse, 5)
    order = paid_order([(sku, 2)])
    stock_release(reference=order.order_no, operator="t")

    order_allocate(order_no=order.order_no, actor="t")

    assert reload(order).status == OrderStatus.PENDING_SHIPMENT
    assert stock_of(sku, warehouse).reserved == 2
    assert ledger_mismatches() == []


def test_order_whose_stock_is_gone_goes_on_hold():
    warehouse, sku = WarehouseFactory(), SkuFactory()
    receive(sku, warehouse, 1)
    order = paid_order([(sku, 3)], reserve=False)

    result = order_allocate(order_no=order.order_no, actor="t")

    assert result.status == OrderStatus.ON_HOLD
    assert [r["code"] for r in reload(order).hold_reasons] == ["out_of_stock"]
    assert not fulfillments_of(order).exists()
    assert stock_of(sku, warehouse).reserved == 0


def test_only_paid_orders_are_allocated():
    warehouse, sku = WarehouseFactory(), SkuFactory()
    receive(sku, warehouse, 5)
    order = paid_order([(sku, 1)])
    order_allocate(order_no=order.order_no, actor="t")

    with pytest.raises(Conflict) as exc:
        order_allocate(order_no=order.order_no, actor="t")

    assert exc.value.code == "not_auditable"
    assert fulfillments_of(order).count() == 1


def _moved_to_shanghai(*, sh_stock: int):
    """An order for 3 units created to 广东 (reserved in Guangzhou), then readdressed to 上海."""
    shanghai = WarehouseFactory(province="上海市", city="上海市", priority=1)
    guangzhou = WarehouseFactory(province="广东省", city="广州市", priority=2)
    sku = SkuFactory()
    if sh_stock:
        receive(sku, shanghai, sh_stock)
    receive(sku, guangzhou, 5)
    order = create_order((sku, 3), recipient=recipient(province="广东省", city="广州市", district="天河区"))
    assert (stock_of(sku, guangzhou).reserved, stock_of(sku, shanghai).reserved if sh_stock else 0) == (3, 0)
    order_update_address(order_no=order.order_no, recipient=recipient(), actor="cs")
    return order, sku, shanghai, guangzhou


def test_allocation_sources_again_when_the_reserved_warehouse_closed_and_the_address_moved():
    order, sku, shanghai, guangzhou = _moved_to_shanghai(sh_stock=5)
    Warehouse.objects.filter(pk=guangzhou.pk).update(is_active=False)
    pay(order)

    result = order_allocate(order_no=order.order_no, actor="t")

    assert result.status == OrderStatus.PENDING_SHIPMENT
    assert lines_by_warehouse(order) == {shanghai.code: [(sku.code, 3)]}
    assert (stock_of(sku, shanghai).reserved, stock_of(sku, guangzhou).reserved) == (3, 0)
    assert [(a.warehouse_id, a.quantity) for a in reservations_for(order.order_no)] == [(shanghai.pk, 3)]
    notes = set(
        StockMovement.objects.filter(reference=order.order_no, note="reallocate").values_list("reason", flat=True)
    )
    assert notes == {"reserve", "release"}
    assert ledger_mismatches() == []


def test_allocation_sources_again_when_only_the_region_changed():
    order, sku, shanghai, guangzhou = _moved_to_shanghai(sh_stock=5)
    pay(order)

    order_allocate(order_no=order.order_no, actor="t")

    assert lines_by_warehouse(order) == {shanghai.code: [(sku.code, 3)]}
    assert (stock_of(sku, shanghai).reserved, stock_of(sku, guangzhou).reserved) == (3, 0)
    assert ledger_mismatches() == []


def test_a_closed_warehouse_with_no_stock_elsewhere_puts_the_order_on_hold():
    order, sku, _shanghai, guangzhou = _moved_to_shanghai(sh_stock=0)
    Warehouse.objects.filter(pk=guangzhou.pk).update(is_active=False)
    pay(order)

    result = order_allocate(order_no=order.order_no, actor="t")

    assert result.status == OrderStatus.ON_HOLD
    assert [r["code"] for r in reload(order).hold_reasons] == ["out_of_stock"]
    assert not fulfillments_of(order).exists()
    assert stock_of(sku, guangzhou).reserved == 3
    assert ledger_mismatches() == []


def test_a_moved_address_without_nearer_stock_keeps_its_warehouse():
    order, sku, _shanghai, guangzhou = _moved_to_shanghai(sh_stock=0)
    pay(order)

    result = order_allocate(order_no=order.order_no, actor="t")

    assert result.status == OrderStatus.PENDING_SHIPMENT
    assert lines_by_warehouse(order) == {guangzhou.code: [(sku.code, 3)]}
    assert ledger_mismatches() == []
