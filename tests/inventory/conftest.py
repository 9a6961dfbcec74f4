import pytest

from apps.inventory.models import Stock
from apps.inventory.services import stock_receive
from tests.inventory.factories import SkuFactory, WarehouseFactory


@pytest.fixture
def receive():
    """Put ``quantity`` units of a SKU on hand through the service, so the ledger agrees."""
    counter = {"n": 0}

    def _receive(sku, warehouse, quantity: int) -> Stock:
        counter["n"] += 1
        return stock_receive(
            sku_id=sku.pk,
            warehouse_id=warehouse.pk,
            quantity=quantity,
            reference=f"PO-test-{counter['n']}",
            operator="test:setup",
        )

    return _receive


@pytest.fixture
def warehouse(db):
    return WarehouseFactory(code="SH01", name="上海华东仓", province="上海", city="上海")


@pytest.fixture
def sku(db):
    return SkuFactory(code="TSHIRT-W-M", name="女式纯棉T恤 白 M")
