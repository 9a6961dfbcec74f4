from datetime import timedelta

import pytest
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from apps.core.exceptions import Conflict
from apps.core.models import OutboxEvent
from apps.inventory.selectors import ledger_mismatches
from apps.orders.models import FS, Fulfillment, OrderStatus
from apps.orders.services import RecipientInput, order_cancel, order_update_address
from apps.orders.services.allocation import order_allocate
from apps.orders.services.audit import order_hold
from apps.orders.services.fulfillment import fulfillment_mark_shipped, fulfillment_submit_to_wms
from apps.orders.services.merge import fulfillments_merge, fulfillments_merge_group, merge_groups
from apps.orders.tasks import fulfillment_submit_task, fulfillments_dispatch_task, fulfillments_merge_task
from apps.orders.wms_sim import WmsSimulator
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
def warehouse():
    return WarehouseFactory()


@pytest.fixture
def skus(warehouse):
    skus = [SkuFactory(), SkuFactory()]
    for sku in skus:
        receive(sku, warehouse, 20)
    return skus


def allocated(items, **fields):
    order = paid_order(items, **fields)
    order_allocate(order_no=order.order_no, actor="t")
    return order


def test_same_buyer_and_address_merge_into_one_parcel(warehouse, skus):
    a, b = skus
    first = allocated([(a, 1)])
    second = allocated([(b, 2)])
    first_f, second_f = fulfillments_of(first).get(), fulfillments_of(second).get()

    merged = fulfillments_merge(actor="system:beat")

    assert merged == [first_f.fulfillment_no]
    target = Fulfillment.objects.get(pk=first_f.pk)
    assert target.status == FS.PENDING
    assert sorted((line.order_line.order.order_no, line.quantity) for line in target.lines.all()) == sorted(
        [(first.order_no, 1), (second.order_no, 2)]
    )
    gone = Fulfillment.objects.get(pk=second_f.pk)
    assert (gone.status, gone.merged_into_id, gone.lines.count()) == (FS.CANCELLED, target.pk, 0)
    event = OutboxEvent.objects.get(topic="fulfillment.cancelled")
    assert event.payload["merged_into"] == target.fulfillment_no
    assert fulfillments_merge(actor="system:beat") == []


def test_a_merged_parcel_ships_both_orders_and_consumes_both_stocks(warehouse, skus):
    a, b = skus
    first, second = allocated([(a, 1)]), allocated([(b, 2)])
    (number,) = fulfillments_merge(actor="system:beat")

    fulfillment_mark_shipped(fulfillment_no=number, carrier="SF", tracking_no="SF100", actor="wms:test")

    assert reload(first).status == reload(second).status == OrderStatus.SHIPPED
    assert (stock_of(a, warehouse).on_hand, stock_of(a, warehouse).reserved) == (19, 0)
    assert (stock_of(b, warehouse).on_hand, stock_of(b, warehouse).reserved) == (18, 0)
    assert ledger_mismatches() == []


def test_different_address_is_not_merged(skus):
    a, b = skus
    allocated([(a, 1)])
    allocated([(b, 1)], address="文三路 100 号 5 幢 302 室")

    assert fulfillments_merge(actor="system:beat") == []


def test_different_recipient_or_buyer_is_not_merged(skus):
    a, b = skus
    allocated([(a, 1)])
    allocated([(b, 1)], recipient_name="李四")
    allocated([(b, 1)], buyer_id="buyer-2")

    assert fulfillments_merge(actor="system:beat") == []


def test_different_warehouses_are_never_merged():
    north, south = WarehouseFactory(), WarehouseFactory()
    a, b = SkuFactory(), SkuFactory()
    receive(a, north, 5)
    receive(b, south, 5)
    allocated([(a, 1)])
    allocated([(b, 1)])

    assert fulfillments_merge(actor="system:beat") == []
    assert Fulfillment.objects.filter(status=FS.PENDING).count() == 2


def test_held_order_is_not_merged(skus):
    a, b = skus
    first = allocated([(a, 1)])
    held = paid_order([(b, 1)])
    order_hold(order_no=held.order_no, actor="admin:bob", reason="call the buyer")

    assert fulfillments_merge(actor="system:beat") == []
    assert fulfillments_of(first).get().lines.count() == 1


def test_merging_can_be_switched_off(skus, settings):
    settings.MERGE_ENABLED = False
    a, b = skus
    allocated([(a, 1)])
    allocated([(b, 1)])

    assert fulfillments_merge(actor="system:beat") == []


def test_fulfillment_already_sent_to_the_wms_is_not_merged(skus, settings):
    simulator = WmsSimulator(callback_url="http://127.0.0.1:9", app_key="wms-k", app_secret="wms-s", ship_delay=3600)
    settings.WMS_BASE_URL = simulator.start()
    settings.WMS_APP_KEY, settings.WMS_APP_SECRET = "wms-k", "wms-s"
    try:
        a, b = skus
        first = allocated([(a, 1)])
        sent = fulfillment_submit_to_wms(fulfillment_no=fulfillments_of(first).get().fulfillment_no, actor="t")
        second = allocated([(b, 1)])

        assert sent.status == FS.SENT_TO_WMS
        assert fulfillments_merge(actor="system:beat") == []
        assert fulfillments_of(second).get().status == FS.PENDING
        assert simulator.fulfillments[sent.fulfillment_no]["status"] == "accepted"
    finally:
        simulator.stop()


def test_an_address_edited_after_grouping_keeps_the_orders_apart(skus):
    a, b = skus
    first, second = allocated([(a, 1)]), allocated([(b, 1)])
    (group,) = merge_groups(since=timezone.now() - timedelta(hours=1))
    # The buyer changes the second order's address between the grouping read and the merge.
    order_update_address(order_no=second.order_no, recipient=_recipient_of(second, address="莫干山路 1 号"), actor="cs")

    assert fulfillments_merge_group(fulfillment_ids=group, actor="system:beat") is None
    assert [f.status for f in fulfillments_of(first)] == [FS.PENDING]
    assert [f.status for f in fulfillments_of(second)] == [FS.PENDING]
    assert fulfillments_of(first).get() != fulfillments_of(second).get()


def test_editing_the_address_of_a_merged_order_gives_it_its_own_parcel(warehouse, skus):
    a, b = skus
    first, second = allocated([(a, 1)]), allocated([(b, 2)])
    (number,) = fulfillments_merge(actor="system:beat")

    order_update_address(order_no=second.order_no, recipient=_recipient_of(second, address="莫干山路 1 号"), actor="cs")

    merged = Fulfillment.objects.get(fulfillment_no=number)
    assert [(line.order_line.order_id, line.quantity) for line in merged.lines.all()] == [(first.pk, 1)]
    own = fulfillments_of(second).get()
    assert (own.status, own.warehouse_id, own.sent_to_wms_at) == (FS.PENDING, warehouse.pk, None)
    assert [(line.sku_id, line.quantity) for line in own.lines.all()] == [(b.pk, 2)]
    created = OutboxEvent.objects.get(topic="fulfillment.created", aggregate_id=own.fulfillment_no)
    assert created.payload["order_nos"] == [second.order_no]
    assert fulfillments_merge(actor="system:beat") == []  # the addresses differ now

    fulfillment_mark_shipped(fulfillment_no=own.fulfillment_no, carrier="SF", tracking_no="SF7", actor="wms:test")
    assert (reload(first).status, reload(second).status) == (OrderStatus.PENDING_SHIPMENT, OrderStatus.SHIPPED)
    assert (stock_of(b, warehouse).on_hand, stock_of(b, warehouse).reserved) == (18, 0)
    assert ledger_mismatches() == []


def test_the_address_cannot_change_while_the_parcel_is_being_handed_to_the_wms(skus):
    a, _b = skus
    order = allocated([(a, 1)])
    Fulfillment.objects.filter(pk=fulfillments_of(order).get().pk).update(sent_to_wms_at=timezone.now())

    with pytest.raises(Conflict) as raised:
        order_update_address(order_no=order.order_no, recipient=_recipient_of(order, address="别处 9 号"), actor="cs")
    assert raised.value.code == "sent_to_wms"
    assert reload(order).address == "文三路 100 号 5 幢 301 室"


def _recipient_of(order, **changes) -> RecipientInput:
    fields = {
        "name": order.recipient_name,
        "phone": order.recipient_phone,
        "province": order.province,
        "city": order.city,
        "district": order.district,
        "address": order.address,
    }
    return RecipientInput(**{**fields, **changes})


def test_cancelling_one_order_of_a_merged_parcel_takes_out_only_its_lines(warehouse, skus):
    a, b = skus
    first, second = allocated([(a, 1)]), allocated([(b, 2)])
    (number,) = fulfillments_merge(actor="system:beat")

    order_cancel(order_no=second.order_no, actor="cs", reason="buyer asked")

    merged = Fulfillment.objects.get(fulfillment_no=number)
    assert merged.status == FS.PENDING
    assert [(line.order_line.order_id, line.quantity) for line in merged.lines.all()] == [(first.pk, 1)]
    assert (reload(first).status, reload(second).status) == (OrderStatus.PENDING_SHIPMENT, OrderStatus.CANCELLED)
    assert (stock_of(b, warehouse).on_hand, stock_of(b, warehouse).reserved) == (20, 0)
    assert (stock_of(a, warehouse).on_hand, stock_of(a, warehouse).reserved) == (20, 1)


def test_an_order_of_a_merged_parcel_claimed_for_the_wms_cannot_be_cancelled(warehouse, skus):
    a, b = skus
    _first, second = allocated([(a, 1)]), allocated([(b, 2)])
    (number,) = fulfillments_merge(actor="system:beat")
    # The WMS call is under way: the parcel is claimed but still pending.
    Fulfillment.objects.filter(fulfillment_no=number).update(sent_to_wms_at=timezone.now())

    with pytest.raises(Conflict) as raised:
        order_cancel(order_no=second.order_no, actor="cs", reason="buyer asked")

    assert raised.value.code == "fulfillment_merged"
    assert Fulfillment.objects.get(fulfillment_no=number).lines.count() == 2
    assert reload(second).status == OrderStatus.PENDING_SHIPMENT
    assert stock_of(b, warehouse).reserved == 2


@pytest.fixture
def wms(settings):
    simulator = WmsSimulator(callback_url="http://127.0.0.1:9", app_key="wms-k", app_secret="wms-s", ship_delay=3600)
    settings.WMS_BASE_URL = simulator.start()
    settings.WMS_APP_KEY, settings.WMS_APP_SECRET = "wms-k", "wms-s"
    yield simulator
    simulator.stop()


def _hold_is_over():
    """Age every parcel past the merge hold instead of sleeping."""
    Fulfillment.objects.update(created_at=F("created_at") - timedelta(minutes=settings.MERGE_HOLD_MINUTES, seconds=1))


def _at_the_wms(simulator) -> dict[str, list[str]]:
    return {number: sorted(record["order_nos"]) for number, record in simulator.fulfillments.items()}


def test_with_the_default_hold_two_parcels_of_one_buyer_reach_the_wms_merged(skus, wms):
    assert settings.MERGE_HOLD_MINUTES == 5
    a, b = skus
    first = allocated([(a, 1)])
    first_no = fulfillments_of(first).get().fulfillment_no
    # The worker runs the first parcel's submit task and the dispatch job before the hold is over.
    assert fulfillment_submit_task(fulfillment_no=first_no) is False
    assert fulfillments_dispatch_task() == 0
    second = allocated([(b, 2)])
    second_no = fulfillments_of(second).get().fulfillment_no

    assert fulfillments_merge_task() == 1
    _hold_is_over()
    fulfillment_submit_task(fulfillment_no=first_no)
    fulfillment_submit_task(fulfillment_no=second_no)
    assert fulfillments_dispatch_task() == 0

    assert _at_the_wms(wms) == {first_no: sorted([first.order_no, second.order_no])}
    assert Fulfillment.objects.get(fulfillment_no=first_no).status == FS.SENT_TO_WMS
    assert Fulfillment.objects.get(fulfillment_no=second_no).status == FS.CANCELLED


def test_the_submit_task_merges_peers_the_merge_job_has_not_seen_yet(skus, wms):
    a, b = skus
    first, second = allocated([(a, 1)]), allocated([(b, 2)])
    first_no = fulfillments_of(first).get().fulfillment_no
    second_no = fulfillments_of(second).get().fulfillment_no
    _hold_is_over()

    assert fulfillment_submit_task(fulfillment_no=second_no) is True
    assert fulfillment_submit_task(fulfillment_no=first_no) is True

    assert _at_the_wms(wms) == {first_no: sorted([first.order_no, second.order_no])}
    assert fulfillments_merge_task() == 0
