"""The public order services (see docs/ARCHITECTURE.md, orders)."""

from apps.orders.services.allocation import order_allocate
from apps.orders.services.archive import archived_order_nos, orders_archive, orders_restore
from apps.orders.services.audit import (
    PLATFORM_LOCKED,
    order_audit,
    order_hold,
    order_release,
    order_remove_hold_reason,
    orders_retry_out_of_stock,
)
from apps.orders.services.create import (
    MAX_LINES,
    ON_SHORTAGE_HOLD,
    OrderDraft,
    OrderLineInput,
    PaidInput,
    RecipientInput,
    order_create,
    order_gate_refuse_sold_out,
    orders_create,
)
from apps.orders.services.edits import order_change_lines, order_update_address, order_update_remark
from apps.orders.services.fulfillment import (
    fulfillment_create_extra,
    fulfillment_mark_shipped,
    fulfillment_submit_to_wms,
    order_delivery_update,
    orders_complete_delivered,
)
from apps.orders.services.lifecycle import (
    order_cancel,
    order_expire,
    order_expire_overdue,
    order_mark_paid,
    order_note_amount_mismatch,
    order_payment_received,
    order_record_refund,
    order_request_refund,
)
from apps.orders.services.merge import fulfillments_merge

__all__ = [
    "MAX_LINES",
    "ON_SHORTAGE_HOLD",
    "PLATFORM_LOCKED",
    "OrderDraft",
    "OrderLineInput",
    "PaidInput",
    "RecipientInput",
    "archived_order_nos",
    "fulfillment_create_extra",
    "fulfillment_mark_shipped",
    "fulfillment_submit_to_wms",
    "fulfillments_merge",
    "order_allocate",
    "order_audit",
    "order_cancel",
    "order_change_lines",
    "order_create",
    "order_delivery_update",
    "order_expire",
    "order_expire_overdue",
    "order_gate_refuse_sold_out",
    "order_hold",
    "order_mark_paid",
    "order_note_amount_mismatch",
    "order_payment_received",
    "order_record_refund",
    "order_release",
    "order_remove_hold_reason",
    "order_request_refund",
    "order_update_address",
    "order_update_remark",
    "orders_archive",
    "orders_complete_delivered",
    "orders_create",
    "orders_restore",
    "orders_retry_out_of_stock",
]
