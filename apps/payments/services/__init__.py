"""Payment services: every write in the payments app goes through these."""

from apps.payments.services.payments import (
    PaymentStart,
    payment_apply_trade,
    payment_close_for_order,
    payment_notification_handle,
    payment_provider_close,
    payment_query,
    payment_start,
    payments_close_expired,
    payments_query_open,
    usable_providers,
)
from apps.payments.services.reconciliation import reconciliation_run, statement_import
from apps.payments.services.refunds import (
    payment_refund_received,
    refund_apply_result,
    refund_request,
    refund_request_for_order,
    refund_submit,
    refunds_process_due,
)
from apps.payments.services.retention import payment_notifications_purge

__all__ = [
    "PaymentStart",
    "payment_apply_trade",
    "payment_close_for_order",
    "payment_notification_handle",
    "payment_notifications_purge",
    "payment_provider_close",
    "payment_query",
    "payment_refund_received",
    "payment_start",
    "payments_close_expired",
    "payments_query_open",
    "reconciliation_run",
    "refund_apply_result",
    "refund_request",
    "refund_request_for_order",
    "refund_submit",
    "refunds_process_due",
    "statement_import",
    "usable_providers",
]
