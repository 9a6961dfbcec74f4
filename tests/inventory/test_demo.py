import io

import pytest

from apps.inventory import demo
from apps.inventory.models import Sku, Stock, StockMovement, Warehouse
from apps.inventory.selectors import ledger_mismatches

pytestmark = pytest.mark.django_db


def test_demo_seed_is_idempotent_and_consistent():
    demo.seed(io.StringIO())
    counts = (Warehouse.objects.count(), Sku.objects.count(), Stock.objects.count(), StockMovement.objects.count())
    demo.seed(io.StringIO())
    assert (
        Warehouse.objects.count(),
        Sku.objects.count(),
        Stock.objects.count(),
        StockMovement.objects.count(),
    ) == counts
    assert counts[0] == 7
    assert 250 <= counts[1] <= 400
    assert set(Warehouse.objects.values_list("kind", flat=True)) == {"warehouse", "store", "factory"}
    assert Sku.objects.filter(is_hot=True).count() == 3
    assert Warehouse.objects.get(code="CD-DC").region == "西南"
    assert ledger_mismatches() == []
