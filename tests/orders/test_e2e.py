"""One order's whole life: create -> pay -> audit -> allocate -> the WMS ships -> delivered
-> completed, with stock, the stock ledger and the outbox checked at each step. The WMS is
the simulator on a loopback port, calling our API served by ``live_server``."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.db.models import Sum
from django.utils import timezone

from apps.core.models import OutboxEvent
from apps.core.outbox import outbox_relay
from apps.inventory.models import StockMovement
from apps.inventory.selectors import ledger_mismatches
from apps.orders import demo
from apps.orders.models import FS, Order, OrderStatus, OrderStatusLog, ShopDiscountPolicy, ShopPrice
from apps.orders.services import (
    OrderLineInput,
    RecipientInput,
    order_create,
    order_mark_paid,
    orders_complete_delivered,
)
from apps.orders.tasks import fulfillments_dispatch_task
from apps.orders.wms_sim import WmsSimulator
from apps.shops.models import Platform
from tests.orders.factories import ShopFactory, recipient
from tests.orders.factories_fulfillment import SkuFactory, WarehouseFactory, fulfillments_of, receive, stock_of


def topics(order_no: str) -> list[str]:
    return list(
        OutboxEvent.objects.filter(aggregate_type="order", aggregate_id=order_no)
        .order_by("id")
        .values_list("topic", flat=True)
    )


def ledger(sku, warehouse) -> tuple[int, int]:
    sums = StockMovement.objects.filter(stock__sku=sku, stock__warehouse=warehouse).aggregate(
        on_hand=Sum("delta_on_hand"), reserved=Sum("delta_reserved")
    )
    return sums["on_hand"], sums["reserved"]


def level(sku, warehouse) -> tuple[int, int]:
    stock = stock_of(sku, warehouse)
    return stock.on_hand, stock.reserved


@pytest.mark.django_db(transaction=True)
def test_order_from_creation_to_completion(settings, live_server):
    simulator = WmsSimulator(
        callback_url=live_server.url,
        app_key=settings.WMS_APP_KEY,
        app_secret=settings.WMS_APP_SECRET,
        ship_delay=0,
        deliver_delay=0,
    )
    settings.WMS_BASE_URL = simulator.start()
    settings.MERGE_HOLD_MINUTES = 0  # the package goes to the WMS as soon as it is created
    try:
        warehouse = WarehouseFactory()
        tea, cup = SkuFactory(price=Decimal("88.00")), SkuFactory(price=Decimal("35.50"))
        receive(tea, warehouse, 10)
        receive(cup, warehouse, 10)

        # 1. Create: stock reserved, pending payment, order.created in the outbox.
        order = order_create(
            shop=None,
            buyer_id="buyer-e2e",
            lines=[
                OrderLineInput(sku_id=tea.pk, quantity=2, unit_price=Decimal("88.00")),
                OrderLineInput(sku_id=cup.pk, quantity=1, unit_price=Decimal("35.50")),
            ],
            recipient=RecipientInput(
                name="赵六",
                phone="13811112222",
                province="浙江省",
                city="杭州市",
                district="余杭区",
                address="文一西路 969 号 3 号楼",
            ),
            actor="api:storefront",
        )
        order_no = order.order_no
        assert order.status == OrderStatus.PENDING_PAYMENT
        assert level(tea, warehouse) == ledger(tea, warehouse) == (10, 2)
        assert level(cup, warehouse) == ledger(cup, warehouse) == (10, 1)
        assert topics(order_no) == ["order.created"]

        # 2. Pay, and let the outbox carry order.paid to the audit: it passes and allocates.
        order_mark_paid(
            order_no=order_no,
            amount=order.payable_amount,
            paid_at=timezone.now(),
            method="wechat",
            actor="system:payments",
        )
        outbox_relay()
        order = Order.objects.get(order_no=order_no)
        assert order.status == OrderStatus.PENDING_SHIPMENT
        assert order.audited_at is not None
        fulfillment = fulfillments_of(order).get()
        assert fulfillment.status == FS.PENDING
        assert level(tea, warehouse) == ledger(tea, warehouse) == (10, 2)
        assert topics(order_no)[:3] == ["order.created", "order.paid", "order.pending_shipment"]
        assert OutboxEvent.objects.filter(topic="fulfillment.created", aggregate_id=fulfillment.fulfillment_no).exists()

        # 3. The beat job hands the parcel to the WMS; the WMS ships it and the carrier delivers.
        assert fulfillments_dispatch_task() == 1
        simulator.drain()
        fulfillment.refresh_from_db(fields=["carrier", "tracking_no", "shipped_at"])
        assert fulfillment.tracking_no == simulator.fulfillments[fulfillment.fulfillment_no]["tracking_no"]
        assert fulfillments_of(order).get().status == FS.SHIPPED
        order = Order.objects.get(order_no=order_no)
        assert order.status == OrderStatus.DELIVERED
        assert level(tea, warehouse) == ledger(tea, warehouse) == (8, 0)
        assert level(cup, warehouse) == ledger(cup, warehouse) == (9, 0)
        shipped = OutboxEvent.objects.get(topic="fulfillment.shipped", aggregate_id=fulfillment.fulfillment_no)
        assert shipped.payload["order_nos"] == [order_no]
        assert shipped.payload["tracking_no"] == fulfillment.tracking_no
        assert topics(order_no)[3:] == ["order.shipped", "order.delivering", "order.delivered"]

        # 4. A week later the beat job completes it.
        Order.objects.filter(order_no=order_no).update(
            delivered_at=timezone.now() - timedelta(days=settings.ORDER_AUTO_COMPLETE_DAYS, minutes=1)
        )
        assert orders_complete_delivered(actor="system:beat") == [order_no]
        assert Order.objects.get(order_no=order_no).status == OrderStatus.COMPLETED
        assert topics(order_no)[-1] == "order.completed"
        assert list(OrderStatusLog.objects.filter(order__order_no=order_no).values_list("to_status", flat=True)) == [
            "pending_payment",
            "paid",
            "pending_shipment",
            "shipped",
            "delivering",
            "delivered",
            "completed",
        ]
        assert ledger_mismatches() == []
    finally:
        simulator.stop()


@pytest.mark.django_db
def test_demo_seed_builds_one_order_per_status_once():
    warehouse = WarehouseFactory()
    for _ in range(3):
        receive(SkuFactory(), warehouse, 100)

    demo.seed(stdout=StringIO())
    demo.seed(stdout=StringIO())

    statuses = sorted(Order.objects.filter(buyer_id__startswith=demo.DEMO_BUYER).values_list("status", flat=True))
    assert statuses == sorted(OrderStatus.values)
    assert ledger_mismatches() == []


@pytest.mark.django_db
def test_demo_seed_gives_the_storefront_its_prices_and_discount_policy():
    warehouse = WarehouseFactory()
    sku = SkuFactory(price=Decimal("100.00"))
    receive(sku, warehouse, 100)
    storefront = ShopFactory(platform=Platform.OWN)
    storefront.warehouses.set([warehouse])

    demo.seed(stdout=StringIO())
    demo.seed(stdout=StringIO())

    assert ShopPrice.objects.get(shop=storefront, sku=sku).price == Decimal("90.00")
    policy = ShopDiscountPolicy.objects.get(shop=storefront)
    assert (policy.max_rate, policy.max_amount) == (Decimal("0.1000"), Decimal("20.00"))
    # A storefront order of that SKU is priced at the shop's price, not the list price.
    order = order_create(
        shop=storefront,
        storefront=True,
        buyer_id="demo-check",
        lines=[OrderLineInput(sku_id=sku.pk, quantity=1)],
        recipient=recipient(),
        actor="test",
    )
    assert order.total_amount == Decimal("90.00")
