"""The order archive: finished orders idle for N months leave the hot tables whole, and come
back whole when an after-sale, the detail API or a search needs them."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from apps.aftersales.models import AfterSale
from apps.aftersales.services.aftersales import AfterSaleLineInput, aftersale_create
from apps.orders.models import Fulfillment, FulfillmentLine, Order, OrderLine, OrderStatusLog
from apps.orders.services.archive import PREFIX
from apps.orders.tasks import orders_archive_task
from oms.celery import app
from tests.aftersales.factories import ShopFactory, SkuFactory, WarehouseFactory, deliver, pay, place_order, receive

pytestmark = pytest.mark.django_db(transaction=True)

OLD = timedelta(days=400)


@pytest.fixture(autouse=True)
def archive_settings(settings):
    settings.ORDER_ARCHIVE_AFTER_MONTHS = 12
    settings.ORDER_ARCHIVE_BATCH_SIZE = 1  # several batches
    yield
    # The archive tables are the job's own (created on first use): not flushed between tests.
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            if table.startswith(PREFIX):
                cursor.execute(f"DROP TABLE {table}")


@pytest.fixture
def shop():
    return ShopFactory()


@pytest.fixture
def shirt():
    warehouse = WarehouseFactory()
    sku = SkuFactory()
    receive(sku, warehouse, 100)
    return sku


def finished(shop, sku, *, idle: timedelta, phone_suffix: int) -> Order:
    """A delivered order, completed and untouched for ``idle``."""
    order = deliver(pay(place_order(shop, [(sku, 1, "80.00")])))
    Order.objects.filter(pk=order.pk).update(
        status="completed", recipient_phone=f"1370000{phone_suffix:04d}", updated_at=timezone.now() - idle
    )
    return Order.objects.get(pk=order.pk)


def graph(order: Order) -> dict[str, int]:
    """What the order is made of in the hot tables."""
    return {
        "order": Order.objects.filter(pk=order.pk).count(),
        "lines": OrderLine.objects.filter(order=order).count(),
        "status_logs": OrderStatusLog.objects.filter(order=order).count(),
        "fulfillments": Fulfillment.objects.filter(lines__order_line__order=order).distinct().count(),
        "fulfillment_lines": FulfillmentLine.objects.filter(order_line__order=order).count(),
    }


def in_archive(order: Order) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {PREFIX}orders_order WHERE order_no = %s", [order.order_no])  # noqa: S608
        return cursor.fetchone()[0] == 1


def test_old_finished_orders_move_whole_and_the_rest_stays(shop, shirt):
    archived = [finished(shop, shirt, idle=OLD, phone_suffix=n) for n in range(2)]
    before = [graph(order) for order in archived]
    recent = finished(shop, shirt, idle=timedelta(days=100), phone_suffix=10)
    unpaid = place_order(shop, [(shirt, 1, "80.00")])
    Order.objects.filter(pk=unpaid.pk).update(updated_at=timezone.now() - OLD)
    with_aftersale = deliver(pay(place_order(shop, [(shirt, 1, "80.00")])))
    aftersale_create(
        order_no=with_aftersale.order_no,
        type="refund_only",
        lines=[],
        amount=Decimal("5.00"),
        reason="late",
        source="buyer",
        actor="test",
    )
    Order.objects.filter(pk=with_aftersale.pk).update(status="completed", updated_at=timezone.now() - OLD)

    assert orders_archive_task() == 2

    for order, counts in zip(archived, before, strict=True):
        assert counts["lines"] == 1 and counts["fulfillments"] == 1 and counts["status_logs"] >= 4
        assert set(graph(order).values()) == {0}
        assert in_archive(order)
    for order in (recent, unpaid, with_aftersale):
        assert graph(order)["order"] == 1 and not in_archive(order)
    assert orders_archive_task() == 0


def test_archived_orders_come_back_whole_for_after_sales_the_detail_api_and_search(shop, shirt, staff_client):
    for_aftersale, for_detail, for_search = (finished(shop, shirt, idle=OLD, phone_suffix=n) for n in range(3))
    before = {order.order_no: graph(order) for order in (for_aftersale, for_detail, for_search)}
    assert orders_archive_task() == 3

    aftersale = aftersale_create(
        order_no=for_aftersale.order_no,
        type="return_refund",
        lines=[AfterSaleLineInput(order_line_id=before_line_id(for_aftersale), quantity=1)],
        amount=Decimal("80.00"),
        reason="too small",
        source="buyer",
        actor="test",
    )
    assert AfterSale.objects.get(pk=aftersale.pk).order.order_no == for_aftersale.order_no

    response = staff_client.get(f"/api/v1/orders/{for_detail.order_no}")
    assert response.status_code == 200
    assert response.json()["order_no"] == for_detail.order_no

    found = staff_client.get("/api/v1/orders/search", {"phone": for_search.recipient_phone}).json()
    assert [item["order_no"] for item in found["results"]] == [for_search.order_no]

    for order in (for_aftersale, for_detail, for_search):
        assert graph(order) == before[order.order_no]
        assert not in_archive(order)


def before_line_id(order: Order) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {PREFIX}orders_orderline WHERE order_id = %s", [order.pk])  # noqa: S608
        return cursor.fetchone()[0]


def test_the_archive_job_is_on_the_beat_schedule_and_off_by_default(settings):
    settings.ORDER_ARCHIVE_AFTER_MONTHS = 0
    assert "orders.archive" in {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert orders_archive_task() == 0
