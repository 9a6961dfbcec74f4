"""JD refund applications (退款审核单), read apart from the orders, reach the formal orders."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.channels.adapters import PermanentAdapterError, adapter_for
from apps.channels.adapters.base import format_local
from apps.channels.models import PullRun, RawOrder
from apps.channels.services import raw_orders_convert_batch, raw_orders_receive, shop_pull
from apps.channels.services.mappings import shop_set_app_secret
from apps.core.models import OutboxEvent
from apps.orders.models import Order, OrderStatus
from apps.shops.models import Shop
from tests.channels.conftest import platform_order

pytestmark = pytest.mark.django_db


def pull_and_convert(ps):
    run = shop_pull(shop_id=ps.shop.pk, actor="test")
    assert run.status == PullRun.Status.SUCCEEDED
    raw_orders_convert_batch(actor="test")
    return run


def ago(minutes: int):
    return timezone.now() - timedelta(minutes=minutes)


def test_a_full_refund_application_before_shipment_cancels_and_refunds_the_order(make_shop, simulator):
    ps = make_shop("jd")
    simulator.put_order(ps.shop.app_key, platform_order(ps, "J100", minutes_ago=10))
    pull_and_convert(ps)
    order = Order.objects.get(platform_order_id="J100")
    assert order.status == OrderStatus.PAID

    # JD leaves the order document as it is: only the refund application is new.
    simulator.add_refund_apply(
        ps.shop.app_key, order_id="J100", refund_id="RA-100", amount=order.paid_amount, applied_at=ago(1)
    )
    pull_and_convert(ps)

    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.REFUNDED
    assert order.refunded_amount == order.paid_amount
    raw = RawOrder.objects.get(platform_order_id="J100")
    assert raw.aftersale_refund_ids == ["RA-100"]
    assert [apply["id"] for apply in raw.payload["refundApplyList"]] == ["RA-100"]
    assert ("jd", "jingdong.pop.order.get") in simulator.calls


def test_jd_locking_the_order_for_a_full_refund_application_cancels_it_rather_than_holding_it(make_shop, simulator):
    ps = make_shop("jd")
    simulator.put_order(ps.shop.app_key, platform_order(ps, "J150", minutes_ago=10))
    pull_and_convert(ps)
    order = Order.objects.get(platform_order_id="J150")

    # JD locks the order while the buyer's refund application waits for the seller.
    simulator.put_order(ps.shop.app_key, platform_order(ps, "J150", status="locked", minutes_ago=2))
    simulator.add_refund_apply(
        ps.shop.app_key, order_id="J150", refund_id="RA-150", amount=order.paid_amount, applied_at=ago(1)
    )
    pull_and_convert(ps)

    order = Order.objects.get(pk=order.pk)
    assert (order.status, order.refunded_amount) == (OrderStatus.REFUNDED, order.paid_amount)
    assert RawOrder.objects.get(platform_order_id="J150").aftersale_refund_ids == ["RA-150"]


def test_a_partial_refund_application_after_shipment_reaches_after_sales_once(make_shop, simulator):
    ps = make_shop("jd")
    simulator.put_order(ps.shop.app_key, platform_order(ps, "J200", minutes_ago=10))
    pull_and_convert(ps)
    order = Order.objects.get(platform_order_id="J200")
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.SHIPPED)

    simulator.put_order(ps.shop.app_key, platform_order(ps, "J200", status="shipped", minutes_ago=2))
    simulator.add_refund_apply(
        ps.shop.app_key, order_id="J200", refund_id="RA-200", amount=Decimal("20.00"), applied_at=ago(1)
    )
    pull_and_convert(ps)

    events = list(OutboxEvent.objects.filter(topic="channel.aftersale_requested"))
    assert [(e.aggregate_id, e.payload["platform_refund_id"], e.payload["amount"]) for e in events] == [
        (order.order_no, "RA-200", "20.00")
    ]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.SHIPPED

    # The next pulls: the application again (overlap), then the order alone with a new
    # update (its application lies before the window): the application stays in the stored
    # payload and is not handed over again.
    pull_and_convert(ps)
    simulator.shops[ps.shop.app_key].refund_applies["RA-200"]["applyTime"] = format_local(ago(60))
    simulator.put_order(ps.shop.app_key, platform_order(ps, "J200", status="shipped", minutes_ago=1, message="催"))
    Shop.objects.filter(pk=ps.shop.pk).update(pull_cursor=ago(5))
    pull_and_convert(ps)

    assert OutboxEvent.objects.filter(topic="channel.aftersale_requested").count() == 1
    raw = RawOrder.objects.get(platform_order_id="J200")
    assert raw.payload["orderRemark"] == "催"
    assert [apply["id"] for apply in raw.payload["refundApplyList"]] == ["RA-200"]


def test_refund_applications_are_read_page_by_page(make_shop, simulator):
    ps = make_shop("jd")
    for index in range(5):
        simulator.put_order(ps.shop.app_key, platform_order(ps, f"J3{index}", minutes_ago=50))
        simulator.add_refund_apply(
            ps.shop.app_key,
            order_id=f"J3{index}",
            refund_id=f"RA-3{index}",
            amount=Decimal("10.00"),
            applied_at=ago(30 - index),
        )
    simulator.add_refund_apply(
        ps.shop.app_key, order_id="J30", refund_id="RA-old", amount=Decimal("1.00"), applied_at=ago(120)
    )
    adapter = adapter_for(ps.shop)
    adapter.page_size = 2

    pages = list(adapter.fetch_orders(start=ago(40), end=ago(0)))

    refunds = {
        normalized.platform_order_id: [r.platform_refund_id for r in normalized.refunds]
        for page in pages
        for _raw, normalized in page.orders
    }
    assert refunds == {f"J3{index}": [f"RA-3{index}"] for index in range(5)}
    assert [page.last for page in pages] == [False, True]  # the orders fetched by id come first
    assert simulator.calls.count(("jd", "jingdong.pop.afs.soa.refundapply.queryPageList")) == 3
    assert simulator.calls.count(("jd", "jingdong.pop.order.get")) == 5


def test_refused_refund_applications_are_ignored(make_shop, simulator):
    ps = make_shop("jd")
    simulator.put_order(ps.shop.app_key, platform_order(ps, "J400", minutes_ago=5))
    simulator.add_refund_apply(
        ps.shop.app_key, order_id="J400", refund_id="RA-400", amount=Decimal("10.00"), applied_at=ago(1), status=2
    )

    pages = list(adapter_for(ps.shop).fetch_orders(start=ago(10), end=ago(0)))

    [(_raw, normalized)] = [order for page in pages for order in page.orders]
    assert normalized.refunds == ()


def test_the_refund_application_request_is_signed_with_the_shop_secret(make_shop, simulator):
    ps = make_shop("jd")
    simulator.add_refund_apply(
        ps.shop.app_key, order_id="J500", refund_id="RA-500", amount=Decimal("10.00"), applied_at=ago(1)
    )
    adapter = adapter_for(ps.shop)

    assert list(adapter.fetch_refund_applies(start=ago(10), end=ago(0))) == ["J500"]

    shop_set_app_secret(shop=ps.shop, secret="not-the-secret", actor="test")
    with pytest.raises(PermanentAdapterError) as excinfo:
        adapter_for(ps.shop).fetch_refund_applies(start=ago(10), end=ago(0))
    assert excinfo.value.code == "19"


def test_a_pushed_order_document_keeps_the_refund_applications_pulled_before(make_shop, simulator):
    ps = make_shop("jd")
    simulator.put_order(ps.shop.app_key, platform_order(ps, "J500", minutes_ago=10))
    simulator.add_refund_apply(
        ps.shop.app_key, order_id="J500", refund_id="RA-500", amount=Decimal("5.00"), applied_at=ago(1)
    )
    shop_pull(shop_id=ps.shop.pk, actor="test")

    raw_orders_receive(shop=ps.shop, payloads=[platform_order(ps, "J500", minutes_ago=0, message="改地址")], actor="t")

    raw = RawOrder.objects.get(platform_order_id="J500")
    assert [apply["id"] for apply in raw.payload["refundApplyList"]] == ["RA-500"]
    assert raw.payload["orderRemark"] == "改地址"
