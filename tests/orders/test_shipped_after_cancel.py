"""A parcel the WMS ships after we cancelled its order: the goods left all the same, so
stock goes down, the order stays cancelled, and staff are alerted (once per parcel) to
intercept it or recover the refunded money. The WMS's "already shipped" refusal of our
cancel is final, not retried."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.core.exceptions import Conflict
from apps.core.models import Alert, OutboxDelivery
from apps.core.outbox import outbox_relay
from apps.inventory.selectors import ledger_mismatches
from apps.orders.models import FS, Fulfillment, Order, OrderStatus
from apps.orders.services import order_cancel
from apps.orders.services.allocation import order_allocate
from apps.orders.services.fulfillment import fulfillment_mark_shipped, fulfillments_dispatch_due
from apps.orders.wms_sim import WmsSimulator
from apps.payments.models import Refund
from tests.orders.factories import create_order, pay, provider_pays, ship_ready, stock_of
from tests.orders.test_wms import signed_post

pytestmark = pytest.mark.django_db(transaction=True)


def _simulator(settings, callback_url: str):
    """The simulated WMS; it ships only when a test says so."""
    sim = WmsSimulator(
        callback_url=callback_url, app_key=settings.WMS_APP_KEY, app_secret=settings.WMS_APP_SECRET, ship_delay=3600
    )
    settings.WMS_BASE_URL = sim.start()
    settings.MERGE_HOLD_MINUTES = 0
    return sim


@pytest.fixture
def wms(settings, live_server):
    """The simulated WMS, reporting to our API."""
    sim = _simulator(settings, live_server.url)
    yield sim
    sim.stop()


@pytest.fixture
def mute_wms(settings):
    """The simulated WMS, whose reports never reach us (a callback lost on the way)."""
    sim = _simulator(settings, "http://127.0.0.1:9")
    yield sim
    sim.stop()


def _at_the_wms(sku, quantity: int) -> tuple[Order, Fulfillment]:
    """An order paid through payments, allocated and handed to the WMS."""
    order = create_order((sku, quantity))
    provider_pays(order.order_no, order.payable_amount)
    outbox_relay()
    if Order.objects.get(pk=order.pk).status == OrderStatus.PAID:
        order_allocate(order_no=order.order_no, actor="t")
    assert fulfillments_dispatch_due(actor="t") == 1
    fulfillment = Fulfillment.objects.get(lines__order_line__order=order)
    assert fulfillment.status == FS.SENT_TO_WMS
    return order, fulfillment


def _cancel_deliveries(fulfillment: Fulfillment):
    return OutboxDelivery.objects.filter(consumer="orders.wms_cancel", event__aggregate_id=fulfillment.fulfillment_no)


def _assert_shipped_after_cancel(order: Order, fulfillment: Fulfillment, sku, warehouse, tracking: str) -> None:
    order = Order.objects.get(pk=order.pk)
    fulfillment = Fulfillment.objects.get(pk=fulfillment.pk)
    assert order.status == OrderStatus.CANCELLED
    assert (fulfillment.status, fulfillment.carrier, fulfillment.tracking_no) == (FS.CANCELLED, "SF", tracking)
    assert fulfillment.shipped_at is not None
    assert (stock_of(sku, warehouse).on_hand, stock_of(sku, warehouse).reserved) == (8, 0)
    assert ledger_mismatches() == []
    alert = Alert.objects.get(kind="fulfillment_shipped_after_cancel")
    assert alert.severity == Alert.Severity.ERROR
    assert alert.details["fulfillment_no"] == fulfillment.fulfillment_no
    assert alert.details["order_nos"] == [order.order_no]
    assert [d.status for d in _cancel_deliveries(fulfillment)] == [OutboxDelivery.Status.DELIVERED]
    assert Refund.objects.filter(reference=f"cancel:{order.order_no}", amount=order.paid_amount).count() == 1


def test_the_wms_refusing_our_cancel_of_a_shipped_parcel_is_final_and_the_stock_leaves(mute_wms, sku, warehouse):
    order, fulfillment = _at_the_wms(sku, 2)
    mute_wms.ship(fulfillment.fulfillment_no)  # the parcel leaves; its callback is lost
    tracking = mute_wms.fulfillments[fulfillment.fulfillment_no]["tracking_no"]

    order_cancel(order_no=order.order_no, actor="cs:amy", reason="buyer changed mind")
    outbox_relay()
    # The WMS reports the shipment (again): recorded once.
    fulfillment_mark_shipped(fulfillment_no=fulfillment.fulfillment_no, carrier="SF", tracking_no=tracking, actor="t")
    outbox_relay()

    _assert_shipped_after_cancel(order, fulfillment, sku, warehouse, tracking)
    assert Alert.objects.count() == 1


def test_a_shipped_callback_for_a_cancelled_parcel_is_accepted_through_the_api(wms, sku, warehouse, settings):
    order, fulfillment = _at_the_wms(sku, 2)
    order_cancel(order_no=order.order_no, actor="cs:amy", reason="buyer changed mind")
    # The WMS ships before our cancel reaches it and reports through the API.
    wms.ship(fulfillment.fulfillment_no)
    tracking = wms.fulfillments[fulfillment.fulfillment_no]["tracking_no"]
    assert wms.callbacks == [(f"/api/v1/wms/fulfillments/{fulfillment.fulfillment_no}/shipped", 200)]

    outbox_relay()  # our cancel now meets "already shipped"

    _assert_shipped_after_cancel(order, fulfillment, sku, warehouse, tracking)
    assert Alert.objects.filter(kind="fulfillment_shipped_after_cancel").count() == 1
    # Another tracking number for the same parcel is refused and changes nothing.
    path = f"/api/v1/wms/fulfillments/{fulfillment.fulfillment_no}/shipped"
    again = signed_post(
        APIClient(),
        path,
        {"carrier": "SF", "tracking_no": "OTHER"},
        key=settings.WMS_APP_KEY,
        secret=settings.WMS_APP_SECRET,
    )
    assert (again.status_code, again.json()["code"]) == (409, "already_shipped")
    assert stock_of(sku, warehouse).on_hand == 8


def test_a_cancelled_parcel_the_wms_never_had_still_cannot_ship(sku, warehouse):
    order = create_order((sku, 2))
    provider_pays(order.order_no, order.payable_amount)
    outbox_relay()
    if Order.objects.get(pk=order.pk).status == OrderStatus.PAID:
        order_allocate(order_no=order.order_no, actor="t")
    fulfillment = Fulfillment.objects.get(lines__order_line__order=order)
    order_cancel(order_no=order.order_no, actor="cs:amy", reason="buyer changed mind")

    with pytest.raises(Conflict) as refused:
        fulfillment_mark_shipped(fulfillment_no=fulfillment.fulfillment_no, carrier="SF", tracking_no="SF1", actor="t")

    assert refused.value.code == "fulfillment_cancelled"
    assert stock_of(sku, warehouse).on_hand == 10
    assert Fulfillment.objects.get(pk=fulfillment.pk).shipped_at is None
    assert not Alert.objects.exists()


def test_stock_promised_to_other_orders_meanwhile_is_left_for_staff_to_count(sku, warehouse, settings):
    settings.WMS_BASE_URL = ""
    order = pay(create_order((sku, 2)))
    fulfillment = ship_ready(order, fulfillment_status=FS.SENT_TO_WMS)
    Fulfillment.objects.filter(pk=fulfillment.pk).update(sent_to_wms_at=timezone.now())
    order_cancel(order_no=order.order_no, actor="cs:amy", reason="buyer changed mind")
    create_order((sku, 10))  # every released unit is promised again

    fulfillment_mark_shipped(fulfillment_no=fulfillment.fulfillment_no, carrier="SF", tracking_no="SF9", actor="wms")

    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    assert Fulfillment.objects.get(pk=fulfillment.pk).shipped_at is not None
    assert (stock_of(sku, warehouse).on_hand, stock_of(sku, warehouse).reserved) == (10, 10)
    assert ledger_mismatches() == []
    alert = Alert.objects.get(kind="fulfillment_shipped_after_cancel")
    assert alert.details["stock_not_adjusted"] == [{"sku_id": sku.pk, "quantity": 2}]
