"""End to end with the real order services: create and cancel an order, relay the outbox,
and the fake cluster receives each state with the order's version, newest last."""

from decimal import Decimal

import pytest

from apps.core.outbox import outbox_relay
from apps.inventory.models import Stock
from apps.orders.models import Order
from apps.orders.services import OrderLineInput, RecipientInput, order_cancel, order_create
from tests.orders.search.factories import ShopFactory, SkuFactory, WarehouseFactory

pytestmark = pytest.mark.django_db


def test_order_changes_reach_the_index_with_growing_versions(fake_es_server):
    shop, warehouse, sku = ShopFactory(), WarehouseFactory(), SkuFactory(name="碧螺春 100g")
    shop.warehouses.add(warehouse)
    Stock.objects.create(sku=sku, warehouse=warehouse, on_hand=10)
    order = order_create(
        shop=shop,
        buyer_id="flow-buyer",
        lines=[OrderLineInput(sku_id=sku.id, quantity=2, unit_price=Decimal("35.00"))],
        recipient=RecipientInput(
            name="李四", phone="13700000000", province="江苏省", city="苏州市", district="吴中区", address="东山镇 1 号"
        ),
        actor="test",
    )
    outbox_relay()
    order_cancel(order_no=order.order_no, actor="test", reason="buyer changed mind")
    outbox_relay()

    sent = [
        (lines[0]["index"]["version"], lines[1]["status"])
        for call in fake_es_server.calls("PUT", "_bulk") + fake_es_server.calls("POST", "_bulk")
        for lines in [call.ndjson]
        if lines and lines[0]["index"]["_id"] == order.order_no
    ]
    final = Order.objects.get(pk=order.pk)
    assert sent[0][1] == "pending_payment"
    assert sent[-1] == (final.version, "cancelled")
    assert [version for version, _status in sent] == sorted({version for version, _status in sent})
