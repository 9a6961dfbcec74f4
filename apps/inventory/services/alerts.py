"""Low-stock alerts: raised once when a row falls to its threshold, resolved when it recovers."""

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from apps.core.alerts import alert_raise, alert_resolve
from apps.inventory.models import Stock
from apps.inventory.selectors import low_stock_recovered, low_stock_to_alert


def low_stock_key(stock_id: int) -> str:
    return f"low_stock:{stock_id}"


def stock_low_alerts_scan(*, actor: str) -> tuple[int, int]:
    """Open an alert for each row newly at or below its threshold, close those that recovered.

    ``Stock.low_stock_alerted`` remembers the crossing, flipped by a conditional UPDATE so
    two scans never alert twice. Returns ``(raised, resolved)``. ``actor`` is the job.
    """
    raised = resolved = 0
    for stock in low_stock_to_alert().iterator(chunk_size=500):
        with transaction.atomic():
            crossed = Stock.objects.filter(
                pk=stock.pk, low_stock_alerted=False, on_hand__lte=F("reserved") + F("low_stock_threshold")
            ).update(low_stock_alerted=True)
            if crossed:
                alert_raise(
                    kind="low_stock",
                    dedup_key=low_stock_key(stock.pk),
                    message=_(
                        "Low stock: %(sku)s in %(warehouse)s has %(available)d available (threshold %(threshold)d)."
                    )
                    % {
                        "sku": stock.sku.code,
                        "warehouse": stock.warehouse.code,
                        "available": stock.available,
                        "threshold": stock.low_stock_threshold,
                    },
                    details={
                        "stock_id": stock.pk,
                        "sku_id": stock.sku_id,
                        "sku_code": stock.sku.code,
                        "warehouse_id": stock.warehouse_id,
                        "warehouse_code": stock.warehouse.code,
                        "available": stock.available,
                        "threshold": stock.low_stock_threshold,
                        "detected_by": actor,
                    },
                )
                raised += 1
    for stock_id in list(low_stock_recovered().values_list("pk", flat=True)):
        with transaction.atomic():
            recovered = Stock.objects.filter(
                pk=stock_id, low_stock_alerted=True, on_hand__gt=F("reserved") + F("low_stock_threshold")
            ).update(low_stock_alerted=False)
            if recovered:
                alert_resolve(dedup_key=low_stock_key(stock_id))
                resolved += 1
    return raised, resolved
