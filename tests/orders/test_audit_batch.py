"""Audit and allocation of many paid orders at once: what each order ends as, the fixed
statement count of a batch, and the ``orders.audit`` consumer's per-order retries."""

import pytest
from django.db.models import Sum

from apps.core.models import OutboxDelivery, OutboxEvent
from apps.core.outbox import outbox_publish, outbox_relay
from apps.inventory.models import Stock
from apps.orders.models import BlacklistedPhone, FulfillmentLine, OrderLine, OrderStatus, OrderStatusLog
from apps.orders.services.audit_batch import orders_audit_batch
from apps.orders.services.common import order_event_payload
from tests.orders.factories_fulfillment import (
    SkuFactory,
    WarehouseFactory,
    fulfillments_of,
    paid_order,
    receive,
    reload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def skus():
    """Two SKUs: the first in two warehouses, the second only in the second warehouse."""
    near, far = WarehouseFactory(), WarehouseFactory()
    first, second = SkuFactory(), SkuFactory()
    receive(first, near, 100)
    receive(first, far, 100)
    receive(second, far, 100)
    return first, second


def clean_orders(skus, count: int) -> list:
    first, second = skus
    return [paid_order([(first, 1), (second, 2)], buyer_id=f"buyer-{n}") for n in range(count)]


def test_a_batch_of_clean_orders_is_allocated_as_one_by_one(skus):
    orders = clean_orders(skus, 3)
    reserved_before = Stock.objects.aggregate(r=Sum("reserved"))["r"]

    result = orders_audit_batch(order_nos=[o.order_no for o in orders], actor="system:audit")

    assert sorted(result.allocated) == sorted(o.order_no for o in orders)
    for order in orders:
        fresh = reload(order)
        assert fresh.status == OrderStatus.PENDING_SHIPMENT
        assert fresh.audited_at is not None
        assert fresh.version == order.version + 1
        # Sourcing put both lines in the warehouse holding both SKUs: one parcel with everything.
        parcels = list(fulfillments_of(order))
        assert len(parcels) == 1
        shipped = {
            (line.order_line_id, line.quantity) for line in FulfillmentLine.objects.filter(fulfillment=parcels[0])
        }
        assert shipped == {(line.pk, line.quantity) for line in OrderLine.objects.filter(order=order)}
        log = OrderStatusLog.objects.filter(order=order).last()
        assert (log.from_status, log.to_status, log.operator) == ("paid", "pending_shipment", "system:audit")
        event = OutboxEvent.objects.get(topic="order.pending_shipment", aggregate_id=order.order_no)
        assert event.payload["fulfillment_nos"] == [parcels[0].fulfillment_no]
        assert event.payload["version"] == fresh.version
        created = OutboxEvent.objects.get(topic="fulfillment.created", aggregate_id=parcels[0].fulfillment_no)
        assert created.payload["order_nos"] == [order.order_no]
    assert Stock.objects.aggregate(r=Sum("reserved"))["r"] == reserved_before


@pytest.mark.parametrize("size", [2, 20])
def test_a_batch_takes_the_same_statements_whatever_its_size(skus, size, django_assert_num_queries):
    orders = clean_orders(skus, size)
    # Reads: lock the orders, lines, reservations, blacklist, duplicate candidates + their
    # lines, warehouses (7). Writes: fulfillments, their lines, the orders' UPDATE, status
    # logs, outbox events (5). The test's transaction adds SAVEPOINT/RELEASE (2).
    with django_assert_num_queries(14):
        result = orders_audit_batch(order_nos=[o.order_no for o in orders], actor="system:audit")
    assert len(result.allocated) == size


def test_orders_a_rule_flags_are_held_and_the_rest_allocated(skus):
    first, second = skus
    clean = paid_order([(first, 1)], buyer_id="clean")
    BlacklistedPhone.objects.create(phone="13900000000")
    blacklisted = paid_order([(first, 1)], buyer_id="black", recipient_phone="13900000000")
    twin_a = paid_order([(second, 1)], buyer_id="twin")
    twin_b = paid_order([(second, 1)], buyer_id="twin")
    already = paid_order([(first, 1)], buyer_id="already")
    orders_audit_batch(order_nos=[already.order_no], actor="t")
    before = OrderStatusLog.objects.filter(order=already).count()

    result = orders_audit_batch(
        order_nos=[o.order_no for o in (clean, blacklisted, twin_a, twin_b, already)], actor="system:audit"
    )

    assert result.allocated == [clean.order_no]
    assert reload(clean).status == OrderStatus.PENDING_SHIPMENT
    assert [r["code"] for r in reload(blacklisted).hold_reasons] == ["phone_blacklisted"]
    assert reload(twin_a).hold_reasons[0]["details"] == {"order_no": twin_b.order_no}
    assert reload(twin_b).hold_reasons[0]["details"] == {"order_no": twin_a.order_no}
    assert {reload(o).status for o in (blacklisted, twin_a, twin_b)} == {OrderStatus.ON_HOLD}
    assert not fulfillments_of(blacklisted).exists()
    assert OrderStatusLog.objects.filter(order=already).count() == before  # audited already: untouched


def test_an_order_without_its_reservation_reserves_on_the_one_order_path(skus):
    first, _second = skus
    order = paid_order([(first, 3)], reserve=False)

    result = orders_audit_batch(order_nos=[order.order_no], actor="t")

    assert result.one_by_one == [order.order_no]
    assert reload(order).status == OrderStatus.PENDING_SHIPMENT
    assert FulfillmentLine.objects.filter(order_line__order=order).aggregate(q=Sum("quantity"))["q"] == 3


def publish_paid(order) -> None:
    outbox_publish(topic="order.paid", aggregate_type="order", aggregate_id=order.order_no,
                   payload=order_event_payload(order))  # fmt: skip


def test_the_consumer_retries_only_the_order_it_could_not_audit(skus):
    first, _second = skus
    good = clean_orders(skus, 2)
    broken = paid_order([(first, 2)], buyer_id="broken")
    # Its line now asks for more than was reserved: the audit refuses (reservation mismatch).
    OrderLine.objects.filter(order=broken).update(quantity=5)
    for order in [*good, broken]:
        publish_paid(order)

    outbox_relay()

    assert {reload(o).status for o in good} == {OrderStatus.PENDING_SHIPMENT}
    assert reload(broken).status == OrderStatus.PAID
    deliveries = OutboxDelivery.objects.filter(consumer="orders.audit")
    failed = deliveries.get(event__aggregate_id=broken.order_no)
    assert failed.status == OutboxDelivery.Status.PENDING
    assert failed.attempts == 1
    assert "reservation_mismatch" in failed.last_error
    assert {d.status for d in deliveries.exclude(pk=failed.pk)} == {OutboxDelivery.Status.DELIVERED}


def test_a_batch_allocates_where_the_database_returns_no_ids(skus, monkeypatch):
    """MySQL 8 returns no ids from a bulk INSERT (MariaDB does): the fulfillments are read back."""
    from django.db import connection

    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    orders = clean_orders(skus, 2)

    result = orders_audit_batch(order_nos=[o.order_no for o in orders], actor="t")

    assert len(result.allocated) == 2
    for order in orders:
        assert FulfillmentLine.objects.filter(order_line__order=order).aggregate(q=Sum("quantity"))["q"] == 3
