import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.inventory.models import Stock, StockMovement, Transfer
from apps.inventory.selectors import ledger_mismatches
from apps.inventory.services import StockRequest, stock_reserve, stock_transfer_ship
from tests.inventory.factories import SkuFactory, WarehouseFactory
from tests.inventory.helpers import stock_of

pytestmark = pytest.mark.django_db

STOCK_URL = "/admin/inventory/stock/"
SKU_URL = "/admin/inventory/sku/"


def test_stock_list_runs_a_fixed_number_of_queries(admin_client, warehouse, receive):
    receive(SkuFactory(), warehouse, 5)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(STOCK_URL).status_code == 200
    for _ in range(10):
        receive(SkuFactory(), WarehouseFactory(), 5)
    with CaptureQueriesContext(connection) as many:
        response = admin_client.get(STOCK_URL + "?low=yes&o=5")
    assert response.status_code == 200
    assert len(many) == len(few)


def test_low_stock_filter_lists_rows_at_or_below_threshold(admin_client, warehouse, receive):
    low, plenty = SkuFactory(code="LOW-1"), SkuFactory(code="PLENTY-1")
    receive(low, warehouse, 20)
    receive(plenty, warehouse, 500)
    content = admin_client.get(STOCK_URL + "?low=yes").content.decode()
    assert "LOW-1" in content
    assert "PLENTY-1" not in content


def test_stocktake_action_asks_then_applies_once(admin_client, sku, warehouse, receive):
    stock = receive(sku, warehouse, 10)
    form_page = admin_client.post(STOCK_URL, {"action": "adjust_stock", ACTION_CHECKBOX_NAME: [stock.pk]})
    assert form_page.status_code == 200
    reference = form_page.context["form"].initial["reference"]
    data = {"action": "adjust_stock", ACTION_CHECKBOX_NAME: [stock.pk], "apply": "1", "reference": reference}
    for _ in range(2):
        response = admin_client.post(STOCK_URL, {**data, "counted": "7", "note": "盘点"})
        assert response.status_code == 302
    assert stock_of(sku, warehouse).on_hand == 7
    assert StockMovement.objects.filter(reference=reference).count() == 1


def test_stocktake_below_reserved_shows_the_error_and_changes_nothing(admin_client, sku, warehouse, receive):
    stock = receive(sku, warehouse, 10)
    stock_reserve(reference="SO1", requests=[StockRequest(sku_id=sku.pk, quantity=6)], operator="test")
    response = admin_client.post(
        STOCK_URL,
        {
            "action": "adjust_stock",
            ACTION_CHECKBOX_NAME: [stock.pk],
            "apply": "1",
            "reference": "ADM-1",
            "counted": "2",
        },
        follow=True,
    )
    assert any(m.level_tag == "error" for m in response.context["messages"])
    assert stock_of(sku, warehouse).on_hand == 10


def test_receive_and_transfer_actions_call_the_services(admin_client, sku, warehouse, receive):
    store = WarehouseFactory(kind="store", province="浙江")
    stock = receive(sku, warehouse, 1)
    admin_client.post(
        STOCK_URL,
        {
            "action": "receive_stock",
            ACTION_CHECKBOX_NAME: [stock.pk],
            "apply": "1",
            "reference": "ADM-R",
            "quantity": "9",
        },
    )
    assert stock_of(sku, warehouse).on_hand == 10
    admin_client.post(
        STOCK_URL,
        {
            "action": "transfer_stock",
            ACTION_CHECKBOX_NAME: [stock.pk],
            "apply": "1",
            "reference": "ADM-T",
            "quantity": "4",
            "to_warehouse": store.pk,
        },
    )
    transfer = Transfer.objects.get()
    assert (transfer.quantity, transfer.status, stock_of(sku, warehouse).on_hand) == (4, "in_transit", 6)

    admin_client.post("/admin/inventory/transfer/", {"action": "receive", ACTION_CHECKBOX_NAME: [transfer.pk]})
    assert Stock.objects.get(sku=sku, warehouse=store).on_hand == 4


def test_ledger_and_reservations_are_read_only(admin_client, sku, warehouse, receive):
    receive(sku, warehouse, 3)
    movement = StockMovement.objects.get()
    assert admin_client.get("/admin/inventory/stockmovement/").status_code == 200
    assert admin_client.get("/admin/inventory/stockmovement/add/").status_code == 403
    response = admin_client.post(f"/admin/inventory/stockmovement/{movement.pk}/change/", {"delta_on_hand": 99})
    assert response.status_code == 403
    movement.refresh_from_db()
    assert movement.delta_on_hand == 3
    assert admin_client.get("/admin/inventory/reservation/").status_code == 200


def test_sku_search_by_barcode(admin_client):
    SkuFactory(code="LIP-01", name="丝绒口红 01", barcode="6901234567890")
    SkuFactory(code="OTHER-1")
    content = admin_client.get("/admin/inventory/sku/?q=6901234567890").content.decode()
    assert "LIP-01" in content
    assert "OTHER-1" not in content


def test_transfer_ship_leaves_a_visible_in_transit_record(admin_client, sku, warehouse, receive):
    receive(sku, warehouse, 5)
    store = WarehouseFactory()
    stock_transfer_ship(
        reference="TR-9",
        sku_id=sku.pk,
        from_warehouse_id=warehouse.pk,
        to_warehouse_id=store.pk,
        quantity=2,
        operator="wh",
    )
    assert "TR-9" in admin_client.get("/admin/inventory/transfer/?status=in_transit").content.decode()


RECEIVE_URL = STOCK_URL + "receive/"


def _receive_page(client):
    page = client.get(RECEIVE_URL)
    assert page.status_code == 200
    return page.context["form"].initial["reference"]


def test_the_first_stock_of_a_new_sku_and_warehouse_is_received_in_the_admin(admin_client):
    sku = SkuFactory(code="NEW-SKU-1")
    warehouse = WarehouseFactory(code="NEW-WH-1")
    assert RECEIVE_URL in admin_client.get(STOCK_URL).content.decode()
    reference = _receive_page(admin_client)
    data = {"sku": "NEW-SKU-1", "warehouse": warehouse.pk, "quantity": "40", "reference": reference, "note": "PO-7"}
    for _ in range(2):
        response = admin_client.post(RECEIVE_URL, data)
        assert response.status_code == 302
    stock = stock_of(sku, warehouse)
    assert (stock.on_hand, stock.reserved) == (40, 0)
    movement = StockMovement.objects.get(stock=stock)
    assert (movement.reason, movement.delta_on_hand, movement.reference, movement.note) == (
        "receive",
        40,
        reference,
        "PO-7",
    )
    assert movement.operator == "admin:admin"
    assert ledger_mismatches() == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"quantity": "0"}, "quantity"),
        ({"warehouse": "closed"}, "warehouse"),
        ({"sku": "NO-SUCH-SKU"}, "sku"),
    ],
)
def test_a_refused_receipt_shows_the_error_and_changes_nothing(admin_client, change, field):
    SkuFactory(code="NEW-SKU-2")
    active = WarehouseFactory()
    closed = WarehouseFactory(is_active=False)
    data = {"sku": "NEW-SKU-2", "warehouse": active.pk, "quantity": "5", "reference": _receive_page(admin_client)}
    data.update(change)
    if data["warehouse"] == "closed":
        data["warehouse"] = closed.pk
    response = admin_client.post(RECEIVE_URL, data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Stock.objects.exists()
    assert not StockMovement.objects.exists()


def test_receiving_needs_the_permission_to_change_stock(client, django_user_model):
    clerk = django_user_model.objects.create_user("clerk", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_stock"))
    client.force_login(clerk)
    assert RECEIVE_URL not in client.get(STOCK_URL).content.decode()
    assert client.get(RECEIVE_URL).status_code == 403
    sku = SkuFactory()
    response = client.post(
        RECEIVE_URL, {"sku": sku.code, "warehouse": WarehouseFactory().pk, "quantity": "5", "reference": "ADM-X"}
    )
    assert response.status_code == 403
    assert not Stock.objects.exists()


def test_selected_skus_are_received_into_a_new_warehouse_from_the_sku_admin(admin_client):
    first, second = SkuFactory(), SkuFactory()
    warehouse = WarehouseFactory()
    selected = {"action": "receive_goods", ACTION_CHECKBOX_NAME: [first.pk, second.pk]}
    form_page = admin_client.post(SKU_URL, selected)
    assert form_page.status_code == 200
    data = {**selected, "apply": "1", "reference": form_page.context["form"].initial["reference"]}
    response = admin_client.post(SKU_URL, {**data, "warehouse": warehouse.pk, "quantity": "0"})
    assert response.status_code == 200
    assert "quantity" in response.context["form"].errors
    assert not Stock.objects.exists()
    for _ in range(2):
        assert admin_client.post(SKU_URL, {**data, "warehouse": warehouse.pk, "quantity": "12"}).status_code == 302
    assert [stock_of(sku, warehouse).on_hand for sku in (first, second)] == [12, 12]
    assert StockMovement.objects.filter(reason="receive").count() == 2
    assert ledger_mismatches() == []
