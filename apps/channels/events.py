"""Outbox consumers of the channels app: shipment write-back and stock sync."""

from apps.channels import services
from apps.core.outbox import outbox_consumer


@outbox_consumer("channels.shipment_writeback", topics=["fulfillment.shipped"])
def on_fulfillment_shipped(event) -> None:
    payload = event.payload
    services.writebacks_create(
        fulfillment_no=payload["fulfillment_no"],
        order_nos=list(payload.get("order_nos") or []),
        carrier=payload.get("carrier") or "",
        tracking_no=payload.get("tracking_no") or "",
    )


@outbox_consumer("channels.stock_sync", topics=["stock.changed"])
def on_stock_changed(event) -> None:
    payload = event.payload
    services.stock_mark_dirty(
        sku_ids=list(payload.get("sku_ids") or []), warehouse_ids=list(payload.get("warehouse_ids") or [])
    )
