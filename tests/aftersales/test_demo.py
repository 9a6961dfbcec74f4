import io

import pytest

from apps.aftersales import demo
from apps.aftersales.models import AfterSale, WorkOrder

pytestmark = pytest.mark.django_db


def test_demo_seed_covers_every_type_and_is_idempotent(settings):
    settings.WMS_BASE_URL = ""
    demo.seed(io.StringIO())
    counts = (AfterSale.objects.count(), WorkOrder.objects.count())
    demo.seed(io.StringIO())

    assert (AfterSale.objects.count(), WorkOrder.objects.count()) == counts == (6, 3)
    assert set(AfterSale.objects.values_list("type", flat=True)) == {
        "refund_only",
        "return_refund",
        "exchange",
        "reissue",
    }
    assert {"refunding", "requested", "awaiting_return", "shipping"} <= set(
        AfterSale.objects.values_list("status", flat=True)
    )
    assert sum(w.is_overdue for w in WorkOrder.objects.all()) == 1
