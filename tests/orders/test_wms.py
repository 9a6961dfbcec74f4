import json
import uuid

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from apps.core import signatures
from apps.core.outbox import outbox_relay
from apps.inventory.selectors import ledger_mismatches
from apps.orders.models import FS, Fulfillment, OrderStatus
from apps.orders.services import order_cancel
from apps.orders.services.allocation import order_allocate
from apps.orders.services.fulfillment import fulfillments_dispatch_due
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


@pytest.fixture
def simulator(settings, live_server):
    """The simulated WMS on a loopback port, reporting to our API served by ``live_server``."""
    sim = WmsSimulator(
        callback_url=live_server.url,
        app_key=settings.WMS_APP_KEY,
        app_secret=settings.WMS_APP_SECRET,
        ship_delay=0,
        deliver_delay=0,
    )
    settings.WMS_BASE_URL = sim.start()
    settings.MERGE_HOLD_MINUTES = 0  # these tests expect a new package at the WMS at once
    yield sim
    sim.stop()


@pytest.mark.django_db(transaction=True)
def test_simulated_wms_ships_and_delivers_through_our_api(simulator):
    north, south = WarehouseFactory(), WarehouseFactory()
    a, b = SkuFactory(), SkuFactory()
    receive(a, north, 10)
    receive(b, south, 10)
    order = paid_order([(a, 2), (b, 1)])
    order_allocate(order_no=order.order_no, actor="t")

    assert fulfillments_dispatch_due(actor="system:beat") == 2
    simulator.drain()

    numbers = sorted(f.fulfillment_no for f in fulfillments_of(order))
    assert sorted(simulator.fulfillments) == numbers
    for fulfillment in fulfillments_of(order):
        assert fulfillment.status == FS.SHIPPED
        assert (fulfillment.carrier, fulfillment.tracking_no) == (
            "SF",
            simulator.fulfillments[fulfillment.fulfillment_no]["tracking_no"],
        )
        assert fulfillment.wms_reference == f"WMS-{fulfillment.fulfillment_no}"
    assert reload(order).status == OrderStatus.DELIVERED
    assert (stock_of(a, north).on_hand, stock_of(a, north).reserved) == (8, 0)
    assert (stock_of(b, south).on_hand, stock_of(b, south).reserved) == (9, 0)
    assert ledger_mismatches() == []
    shipped_calls = [status for path, status in simulator.callbacks if path.endswith("/shipped")]
    assert shipped_calls == [200, 200]
    assert fulfillments_dispatch_due(actor="system:beat") == 0


@pytest.mark.django_db(transaction=True)
def test_cancelled_fulfillment_is_cancelled_in_the_wms(settings):
    sim = WmsSimulator(callback_url="http://127.0.0.1:9", app_key="k", app_secret="s", ship_delay=3600)
    settings.WMS_BASE_URL, settings.WMS_APP_KEY, settings.WMS_APP_SECRET = sim.start(), "k", "s"
    settings.MERGE_HOLD_MINUTES = 0
    try:
        warehouse, sku = WarehouseFactory(), SkuFactory()
        receive(sku, warehouse, 5)
        order = paid_order([(sku, 1)])
        order_allocate(order_no=order.order_no, actor="t")
        fulfillments_dispatch_due(actor="t")
        number = fulfillments_of(order).get().fulfillment_no

        order_cancel(order_no=order.order_no, actor="admin:alice", reason="intercepted")
        outbox_relay()

        assert Fulfillment.objects.get(fulfillment_no=number).status == FS.CANCELLED
        assert sim.fulfillments[number]["status"] == "cancelled"
    finally:
        sim.stop()


def signed_post(client: APIClient, path: str, data: dict, *, key: str, secret: str):
    body = json.dumps(data).encode()
    headers = signatures.signed_headers(key, secret, "POST", path, body, nonce=uuid.uuid4().hex)
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return client.generic("POST", path, body, content_type="application/json", **extra)


@pytest.fixture
def pending_fulfillment(db):
    warehouse, sku = WarehouseFactory(), SkuFactory()
    receive(sku, warehouse, 5)
    order = paid_order([(sku, 1)])
    order_allocate(order_no=order.order_no, actor="t")
    return fulfillments_of(order).get()


@pytest.mark.django_db
def test_callback_api_refuses_bad_signatures_and_unprivileged_staff(pending_fulfillment, settings):
    path = f"/api/v1/wms/fulfillments/{pending_fulfillment.fulfillment_no}/shipped"
    data = {"carrier": "SF", "tracking_no": "SF1"}

    forged = signed_post(APIClient(), path, data, key=settings.WMS_APP_KEY, secret="wrong")
    anonymous = APIClient().post(path, data, format="json")
    clerk = APIClient()
    clerk.force_login(User.objects.create_user("clerk"))
    unprivileged = clerk.post(path, data, format="json")

    assert (forged.status_code, anonymous.status_code, unprivileged.status_code) == (401, 401, 403)
    assert Fulfillment.objects.get(pk=pending_fulfillment.pk).status == FS.PENDING


@pytest.mark.django_db
def test_callback_api_ships_for_the_wms_and_for_permitted_staff(pending_fulfillment, settings):
    path = f"/api/v1/wms/fulfillments/{pending_fulfillment.fulfillment_no}/shipped"

    response = signed_post(
        APIClient(),
        path,
        {"carrier": "SF", "tracking_no": "SF1"},
        key=settings.WMS_APP_KEY,
        secret=settings.WMS_APP_SECRET,
    )
    repeat = signed_post(
        APIClient(),
        path,
        {"carrier": "SF", "tracking_no": "SF1"},
        key=settings.WMS_APP_KEY,
        secret=settings.WMS_APP_SECRET,
    )

    assert response.status_code == repeat.status_code == 200
    body = response.json()
    assert (body["status"], body["tracking_no"]) == ("shipped", "SF1")
    order_no = body["order_nos"][0]

    staff = APIClient()
    user = User.objects.create_user("warehouse-lead", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_fulfillment"))
    staff.force_login(user)
    delivered = staff.post(f"/api/v1/wms/orders/{order_no}/delivery", {"status": "delivered"}, format="json")
    invalid = staff.post(f"/api/v1/wms/orders/{order_no}/delivery", {"status": "lost"}, format="json")
    conflict = staff.post(path, {"carrier": "SF", "tracking_no": "OTHER"}, format="json")

    assert (delivered.status_code, delivered.json()["status"]) == (200, "delivered")
    assert (invalid.status_code, invalid.json()["code"]) == (400, "validation_error")
    assert (conflict.status_code, conflict.json()["code"]) == (409, "already_shipped")


@pytest.mark.django_db
def test_the_cached_order_detail_shows_a_package_handed_to_the_wms(
    settings, staff_client, django_capture_on_commit_callbacks
):
    sim = WmsSimulator(callback_url="http://127.0.0.1:9", app_key="k", app_secret="s", ship_delay=3600)
    settings.WMS_BASE_URL, settings.WMS_APP_KEY, settings.WMS_APP_SECRET = sim.start(), "k", "s"
    settings.MERGE_HOLD_MINUTES = 0
    try:
        warehouse, sku = WarehouseFactory(), SkuFactory()
        receive(sku, warehouse, 5)
        order = paid_order([(sku, 1)])
        order_allocate(order_no=order.order_no, actor="t")
        path = f"/api/v1/orders/{order.order_no}"
        assert [f["status"] for f in staff_client.get(path).json()["fulfillments"]] == ["pending"]

        with django_capture_on_commit_callbacks(execute=True):
            assert fulfillments_dispatch_due(actor="t") == 1
        assert [f["status"] for f in staff_client.get(path).json()["fulfillments"]] == ["sent_to_wms"]
    finally:
        sim.stop()
