import pytest

from apps.core.exceptions import ApplicationError, Conflict
from apps.core.models import OutboxEvent
from apps.inventory.models import Reservation, StockMovement
from apps.inventory.selectors import ledger_mismatches
from apps.orders.models import FS, Fulfillment, OrderStatus, OrderStatusLog
from apps.orders.services.allocation import order_allocate
from apps.orders.services.fulfillment import fulfillment_create_extra, fulfillment_mark_shipped
from apps.orders.services.merge import fulfillments_merge
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


@pytest.fixture
def split_order():
    """An order for two SKUs that only different warehouses hold: two fulfillments."""
    north, south = WarehouseFactory(), WarehouseFactory()
    a, b = SkuFactory(), SkuFactory()
    receive(a, north, 10)
    receive(b, south, 10)
    order = paid_order([(a, 2), (b, 1)])
    order_allocate(order_no=order.order_no, actor="t")
    return order, (north, a), (south, b)


def test_order_ships_when_its_last_fulfillment_ships(split_order):
    order, (north, a), (south, b) = split_order
    first, second = fulfillments_of(order)

    fulfillment_mark_shipped(fulfillment_no=first.fulfillment_no, carrier="SF", tracking_no="SF1", actor="wms:x")

    assert reload(order).status == OrderStatus.PENDING_SHIPMENT
    assert (stock_of(a, north).on_hand, stock_of(a, north).reserved) == (8, 0)
    assert (stock_of(b, south).on_hand, stock_of(b, south).reserved) == (10, 1)

    fulfillment_mark_shipped(fulfillment_no=second.fulfillment_no, carrier="YTO", tracking_no="YT2", actor="wms:x")

    shipped = reload(order)
    assert shipped.status == OrderStatus.SHIPPED
    assert shipped.shipped_at is not None
    assert (stock_of(b, south).on_hand, stock_of(b, south).reserved) == (9, 0)
    assert ledger_mismatches() == []
    events = OutboxEvent.objects.filter(topic="fulfillment.shipped").order_by("id")
    assert [(e.payload["fulfillment_no"], e.payload["carrier"], e.payload["tracking_no"]) for e in events] == [
        (first.fulfillment_no, "SF", "SF1"),
        (second.fulfillment_no, "YTO", "YT2"),
    ]
    assert OutboxEvent.objects.filter(topic="order.shipped", aggregate_id=order.order_no).count() == 1
    assert OrderStatusLog.objects.filter(order=order, to_status="shipped", from_status="pending_shipment").count() == 1


def test_shipping_again_with_the_same_tracking_changes_nothing(split_order):
    order, (north, a), _south = split_order
    first = fulfillments_of(order).first()
    fulfillment_mark_shipped(fulfillment_no=first.fulfillment_no, carrier="SF", tracking_no="SF1", actor="wms:x")
    movements = StockMovement.objects.count()

    again = fulfillment_mark_shipped(
        fulfillment_no=first.fulfillment_no, carrier="SF", tracking_no="SF1", actor="wms:x"
    )

    assert again.status == FS.SHIPPED
    assert StockMovement.objects.count() == movements
    assert stock_of(a, north).on_hand == 8
    with pytest.raises(Conflict) as exc:
        fulfillment_mark_shipped(fulfillment_no=first.fulfillment_no, carrier="SF", tracking_no="SF9", actor="wms:x")
    assert exc.value.code == "already_shipped"


def test_shipping_needs_carrier_and_tracking(split_order):
    order, *_ = split_order
    first = fulfillments_of(order).first()

    with pytest.raises(ApplicationError) as exc:
        fulfillment_mark_shipped(fulfillment_no=first.fulfillment_no, carrier="SF", tracking_no=" ", actor="x")

    assert exc.value.code == "tracking_required"
    assert Fulfillment.objects.get(pk=first.pk).status == FS.PENDING


def test_a_merged_away_fulfillment_cannot_ship():
    warehouse, sku = WarehouseFactory(), SkuFactory()
    receive(sku, warehouse, 10)
    orders = [paid_order([(sku, 1)], buyer_message="") for _ in range(2)]
    for order in orders:
        order_allocate(order_no=order.order_no, actor="t")
    loser = fulfillments_of(orders[1]).exclude(status=FS.CANCELLED).get()
    fulfillments_merge(actor="t")

    with pytest.raises(Conflict) as exc:
        fulfillment_mark_shipped(fulfillment_no=loser.fulfillment_no, carrier="SF", tracking_no="1", actor="x")

    assert exc.value.code == "fulfillment_cancelled"
    assert (
        exc.value.extra["merged_into"] == fulfillments_of(orders[0]).exclude(status=FS.CANCELLED).get().fulfillment_no
    )
    assert stock_of(sku, warehouse).on_hand == 10


def test_unknown_fulfillment_is_404():
    with pytest.raises(ApplicationError) as exc:
        fulfillment_mark_shipped(fulfillment_no="F404", carrier="SF", tracking_no="1", actor="x")
    assert exc.value.status_code == 404


@pytest.fixture
def shipped_order():
    warehouse = WarehouseFactory()
    small, large = SkuFactory(), SkuFactory()
    receive(small, warehouse, 5)
    receive(large, warehouse, 5)
    order = paid_order([(small, 1)])
    order_allocate(order_no=order.order_no, actor="t")
    fulfillment = fulfillments_of(order).get()
    fulfillment_mark_shipped(fulfillment_no=fulfillment.fulfillment_no, carrier="SF", tracking_no="S1", actor="t")
    return order, warehouse, small, large


def test_exchange_parcel_reserves_ships_and_consumes_under_the_aftersale(shipped_order):
    order, warehouse, _small, large = shipped_order
    line = order.lines.get()

    extra = fulfillment_create_extra(
        order_no=order.order_no,
        kind="exchange",
        source_reference="AS2026001",
        items=[(line.pk, large.pk, 1)],
        actor="system:aftersales",
    )

    assert (extra.kind, extra.source_reference, extra.status) == ("exchange", "AS2026001", FS.PENDING)
    assert list(extra.lines.values_list("sku_id", "quantity")) == [(large.pk, 1)]
    assert stock_of(large, warehouse).reserved == 1
    assert Reservation.objects.filter(reference="AS2026001", status="active").count() == 1
    created = OutboxEvent.objects.filter(topic="fulfillment.created", aggregate_id=extra.fulfillment_no).get()
    assert (created.payload["kind"], created.payload["source_reference"]) == ("exchange", "AS2026001")
    again = fulfillment_create_extra(
        order_no=order.order_no,
        kind="exchange",
        source_reference="AS2026001",
        items=[(line.pk, large.pk, 1)],
        actor="x",
    )
    assert again.pk == extra.pk
    assert stock_of(large, warehouse).reserved == 1

    fulfillment_mark_shipped(fulfillment_no=extra.fulfillment_no, carrier="SF", tracking_no="S2", actor="wms:x")

    assert reload(order).status == OrderStatus.SHIPPED
    assert (stock_of(large, warehouse).on_hand, stock_of(large, warehouse).reserved) == (4, 0)
    assert StockMovement.objects.filter(reason="ship", reference=extra.fulfillment_no, note="AS2026001").count() == 1
    shipped = OutboxEvent.objects.get(topic="fulfillment.shipped", aggregate_id=extra.fulfillment_no)
    assert shipped.payload["kind"] == "exchange"
    assert ledger_mismatches() == []


def test_extra_parcel_refuses_foreign_lines_and_bad_kinds(shipped_order):
    order, _warehouse, small, _large = shipped_order
    other = paid_order([(small, 1)])

    with pytest.raises(ApplicationError) as foreign:
        fulfillment_create_extra(
            order_no=order.order_no,
            kind="reissue",
            source_reference="AS2",
            items=[(other.lines.get().pk, small.pk, 1)],
            actor="x",
        )
    with pytest.raises(ApplicationError) as kind:
        fulfillment_create_extra(
            order_no=order.order_no, kind="normal", source_reference="AS3", items=[(1, small.pk, 1)], actor="x"
        )

    assert (foreign.value.code, kind.value.code) == ("invalid_items", "invalid_kind")
    assert not Reservation.objects.filter(reference__in=["AS2", "AS3"]).exists()
