"""Fulfillments (出库单) after allocation: sending them to the WMS, shipping, extra parcels
for exchanges and reissues, and the delivery updates that follow.

Lock order, everywhere in orders: the order rows first (by order number), then the
fulfillment rows (by id). The WMS is called outside any transaction that holds a business
lock: ``fulfillment_submit_to_wms`` first *claims* the fulfillment (``sent_to_wms_at`` set
while it is still ``pending``, which takes it out of the merge job's reach), commits, calls
the WMS, then moves it to ``sent_to_wms``. Running it twice is harmless: the WMS dedups by
fulfillment number.
"""

from apps.orders.services.fulfillment.common import (
    FulfillmentErrorCode,
    fulfillment_create,
    fulfillment_lock,
    fulfillment_order_nos,
    fulfillment_publish,
)
from apps.orders.services.fulfillment.delivery import (
    COMPLETE_RUN_SECONDS,
    DELIVERY_STATUSES,
    order_delivery_update,
    orders_complete_delivered,
)
from apps.orders.services.fulfillment.dispatch import (
    fulfillment_cancel_in_wms,
    fulfillment_is_due,
    fulfillment_submit_to_wms,
    fulfillments_dispatch_due,
)
from apps.orders.services.fulfillment.extra import fulfillment_create_extra
from apps.orders.services.fulfillment.shipping import fulfillment_alert_shipped_after_cancel, fulfillment_mark_shipped

__all__ = [
    "COMPLETE_RUN_SECONDS",
    "DELIVERY_STATUSES",
    "FulfillmentErrorCode",
    "fulfillment_alert_shipped_after_cancel",
    "fulfillment_cancel_in_wms",
    "fulfillment_create",
    "fulfillment_create_extra",
    "fulfillment_is_due",
    "fulfillment_lock",
    "fulfillment_mark_shipped",
    "fulfillment_order_nos",
    "fulfillment_publish",
    "fulfillment_submit_to_wms",
    "fulfillments_dispatch_due",
    "order_delivery_update",
    "orders_complete_delivered",
]
