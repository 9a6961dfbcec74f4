from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from kombu.exceptions import OperationalError

from apps.core.exceptions import ApplicationError, Conflict
from apps.core.models import OutboxEvent
from apps.inventory.gate import gate_counter, gate_sync
from apps.inventory.models import Reservation, StockMovement
from apps.orders import tasks
from apps.orders.models import Order, OrderLine, OrderStatusLog
from apps.orders.services import PaidInput, order_create
from tests.orders.factories import SkuFactory, create_order, line, receive, recipient, stock_of

pytestmark = pytest.mark.django_db


def _row_counts() -> tuple[int, ...]:
    return (
        Order.objects.count(),
        OrderLine.objects.count(),
        Reservation.objects.count(),
        StockMovement.objects.count(),
        OutboxEvent.objects.count(),
        OrderStatusLog.objects.count(),
    )


def test_create_prices_reserves_logs_and_publishes(sku, other_sku, warehouse):
    day_before = timezone.localtime().strftime("%Y%m%d")
    order = order_create(
        shop=None,
        buyer_id="buyer-1",
        lines=[line(sku, 2, "30.00", discount="5.00"), line(other_sku, 1, "20.00")],
        recipient=recipient(),
        discount_amount=Decimal("3.00"),
        actor="test",
    )

    order = Order.objects.get(pk=order.pk)
    assert order.status == "pending_payment"
    assert order.platform == "own"
    assert len(order.order_no) == 20
    assert order.order_no[:8] in {day_before, timezone.localtime().strftime("%Y%m%d")}  # midnight may pass
    assert order.total_amount == Decimal("75.00")  # 2*30-5 + 20
    assert order.shipping_fee == Decimal("10.00")  # 72.00 after discount is below 99.00
    assert order.payable_amount == Decimal("82.00")
    deadline = timezone.now() + timedelta(minutes=15)
    assert abs((order.payment_deadline - deadline).total_seconds()) < 60
    lines = list(order.lines.order_by("id"))
    assert [(item.sku_code, item.line_total) for item in lines] == [
        (sku.code, Decimal("55.00")),
        (other_sku.code, Decimal("20.00")),
    ]
    assert stock_of(sku, warehouse).reserved == 2
    assert stock_of(other_sku, warehouse).reserved == 1
    reservations = Reservation.objects.filter(reference=order.order_no, status="active")
    assert sorted(r.line_reference for r in reservations) == sorted(str(item.pk) for item in lines)
    log = OrderStatusLog.objects.get(order=order)
    assert (log.from_status, log.to_status, log.operator) == ("", "pending_payment", "test")
    assert list(
        OutboxEvent.objects.filter(aggregate_type="order", aggregate_id=order.order_no).values_list("topic", flat=True)
    ) == ["order.created"]


@pytest.mark.parametrize(
    ("unit_price", "shipping"),
    [("98.99", Decimal("10.00")), ("99.00", Decimal("0.00")), ("150.00", Decimal("0.00"))],
)
def test_shipping_is_free_from_the_threshold(sku, unit_price, shipping):
    order = order_create(shop=None, buyer_id="b", lines=[line(sku, 1, unit_price)], recipient=recipient(), actor="test")
    assert order.shipping_fee == shipping
    assert order.payable_amount == Decimal(unit_price) + shipping


def test_a_discount_above_the_goods_total_is_refused_and_creates_nothing(sku, warehouse):
    with pytest.raises(ApplicationError) as raised:
        order_create(
            shop=None,
            buyer_id="b",
            lines=[line(sku, 1, "20.00")],
            recipient=recipient(),
            discount_amount=Decimal("50.00"),
            shipping_fee=Decimal("0"),
            actor="test",
        )
    assert (raised.value.code, raised.value.status_code) == ("validation_error", 400)
    assert "discount_amount" in raised.value.extra
    assert not Order.objects.exists()
    assert stock_of(sku, warehouse).reserved == 0


def test_a_discount_equal_to_the_goods_total_makes_the_goods_free(sku):
    order = order_create(
        shop=None,
        buyer_id="b",
        lines=[line(sku, 1, "20.00")],
        recipient=recipient(),
        discount_amount=Decimal("20.00"),
        shipping_fee=Decimal("0"),
        actor="test",
    )
    assert order.payable_amount == Decimal("0.00")


def test_shop_order_keeps_the_platform_and_sources_from_the_shop_warehouses(shop, sku, warehouse):
    near = SkuFactory()
    receive(near, warehouse, 5)
    shop.warehouses.add(warehouse)
    order = create_order((near, 2), shop=shop)
    assert order.platform == "tmall"
    assert order.shop_id == shop.pk
    assert stock_of(near, warehouse).reserved == 2


def test_platform_order_arriving_paid_enters_paid(shop, sku):
    paid_at = timezone.now() - timedelta(minutes=3)
    order = create_order(
        (sku, 1),
        shop=shop,
        platform_order_id="TM-1",
        paid=PaidInput(amount=Decimal("60.00"), paid_at=paid_at, method="platform"),
    )
    order = Order.objects.get(pk=order.pk)
    assert order.status == "paid"
    assert order.paid_amount == Decimal("60.00")
    assert order.payment_deadline is None
    assert list(order.status_logs.values_list("from_status", "to_status")) == [("", "paid")]
    topics = list(
        OutboxEvent.objects.filter(aggregate_type="order", aggregate_id=order.order_no)
        .order_by("id")
        .values_list("topic", flat=True)
    )
    assert topics == ["order.created", "order.paid"]


def test_the_same_platform_order_twice_is_a_conflict_and_leaves_nothing(shop, sku, warehouse):
    create_order((sku, 1), shop=shop, platform_order_id="TM-2")
    before = _row_counts()
    with pytest.raises(Conflict) as raised:
        create_order((sku, 1), shop=shop, platform_order_id="TM-2")
    assert raised.value.code == "duplicate_platform_order"
    assert _row_counts() == before
    assert stock_of(sku, warehouse).reserved == 1


@pytest.mark.parametrize(
    ("make_line", "field"),
    [
        (lambda sku: line(sku, 0), "quantity"),
        (lambda sku: line(sku, 1, "-1.00"), "unit_price"),
        (lambda sku: line(sku, 2, "10.00", discount="20.01"), "discount_amount"),
        (lambda sku: line(sku, 1, "NaN"), "unit_price"),
    ],
)
def test_invalid_lines_are_refused_field_by_field(sku, make_line, field):
    before = _row_counts()
    with pytest.raises(ApplicationError) as raised:
        order_create(shop=None, buyer_id="b", lines=[line(sku), make_line(sku)], recipient=recipient(), actor="t")
    assert raised.value.code == "validation_error"
    assert list(raised.value.extra["lines"]) == ["1"]
    assert field in raised.value.extra["lines"]["1"]
    assert _row_counts() == before


def test_unknown_and_inactive_skus_are_refused(sku):
    retired = SkuFactory(is_active=False)
    with pytest.raises(ApplicationError) as raised:
        order_create(
            shop=None,
            buyer_id="b",
            lines=[line(retired), line(sku), line(SkuFactory.build(pk=987654))],
            recipient=recipient(),
            actor="t",
        )
    assert set(raised.value.extra["lines"]) == {"0", "2"}
    assert Order.objects.count() == 0


def test_incomplete_address_is_refused(sku):
    with pytest.raises(ApplicationError) as raised:
        order_create(shop=None, buyer_id="b", lines=[line(sku)], recipient=recipient(address=" ", city=""), actor="t")
    assert set(raised.value.extra["recipient"]) == {"address", "city"}
    assert stock_of(sku, sku.stocks.get().warehouse).reserved == 0


def test_insufficient_stock_names_every_short_sku_and_leaves_nothing(sku, other_sku):
    before = _row_counts()
    with pytest.raises(Conflict) as raised:
        create_order((sku, 11), (other_sku, 3), (SkuFactory(), 1))
    assert raised.value.code == "insufficient_stock"
    short = {item["sku_code"] for item in raised.value.extra["shortages"]}
    assert sku.code in short
    assert other_sku.code not in short
    assert len(short) == 2
    assert _row_counts() == before


def test_create_runs_the_same_number_of_queries_for_1_and_50_lines(warehouse, django_assert_max_num_queries):
    skus = SkuFactory.create_batch(50)
    for item in skus:
        receive(item, warehouse, 5)
    counts = []
    for batch in (skus[:1], skus):
        with CaptureQueriesContext(connection) as captured:
            create_order(*[(item, 1) for item in batch])
        counts.append(len(captured))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(counts[0]):
        create_order(*[(item, 2) for item in skus])


def test_timeout_countdown_is_scheduled_after_commit_and_a_broker_failure_is_harmless(
    sku, monkeypatch, django_capture_on_commit_callbacks
):
    scheduled = []
    monkeypatch.setattr(tasks.order_expire_task, "apply_async", lambda **kwargs: scheduled.append(kwargs), raising=True)
    with django_capture_on_commit_callbacks(execute=True):
        order = create_order((sku, 1))
    assert scheduled == [{"kwargs": {"order_no": order.order_no}, "eta": order.payment_deadline}]

    def broker_down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(tasks.order_expire_task, "apply_async", broker_down, raising=True)
    with django_capture_on_commit_callbacks(execute=True):
        second = create_order((sku, 1))
    assert Order.objects.get(pk=second.pk).status == "pending_payment"


@pytest.fixture
def hot_sku(warehouse):
    """A flash-sale SKU with 2 units and its gate counter synced."""
    hot = SkuFactory(is_hot=True)
    receive(hot, warehouse, 2)
    gate_sync()
    return hot


def test_a_sold_out_hot_sku_is_refused_before_any_query(hot_sku, sku, django_assert_num_queries):
    create_order((hot_sku, 2))
    assert gate_counter(hot_sku.pk) == 0
    before = _row_counts()
    with django_assert_num_queries(0), pytest.raises(Conflict) as raised:
        create_order((sku, 1), (hot_sku, 1))
    assert raised.value.code == "insufficient_stock"
    assert raised.value.extra["shortages"] == [
        {"sku_id": hot_sku.pk, "sku_code": hot_sku.code, "requested": 1, "available": 0}
    ]
    assert _row_counts() == before
    assert gate_counter(hot_sku.pk) == 0


def test_an_available_hot_sku_still_creates_the_order(hot_sku, warehouse):
    order = create_order((hot_sku, 1), (hot_sku, 1))
    assert Order.objects.get(pk=order.pk).status == "pending_payment"
    assert stock_of(hot_sku, warehouse).reserved == 2
    assert gate_counter(hot_sku.pk) == 0


def test_bad_input_for_a_sold_out_hot_sku_still_gets_its_validation_error(hot_sku):
    create_order((hot_sku, 2))
    with pytest.raises(ApplicationError) as raised:
        order_create(
            shop=None, buyer_id="b", lines=[line(hot_sku, 1), line(hot_sku, 0)], recipient=recipient(), actor="t"
        )
    assert raised.value.code == "validation_error"


def test_a_paid_order_for_a_sold_out_hot_sku_is_held_not_refused(hot_sku):
    create_order((hot_sku, 2))
    paid = PaidInput(amount=Decimal("50.00"), paid_at=timezone.now(), method="alipay")
    order = create_order((hot_sku, 1), paid=paid, on_shortage="hold")
    assert Order.objects.get(pk=order.pk).status == "on_hold"
