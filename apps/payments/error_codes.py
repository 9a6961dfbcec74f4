from enum import StrEnum


class PaymentErrorCode(StrEnum):
    ORDER_NOT_FOUND = "order_not_found"
    PAYMENT_NOT_FOUND = "payment_not_found"
    REFUND_NOT_FOUND = "refund_not_found"
    UNKNOWN_PROVIDER = "unknown_provider"
    INVALID_AMOUNT = "invalid_amount"
    ORDER_NOT_PAYABLE = "order_not_payable"
    ORDER_ALREADY_PAID = "order_already_paid"
    REFUND_EXCEEDS_PAID = "refund_exceeds_paid"
    REFUND_REFERENCE_REUSED = "refund_reference_reused"
    PAYMENT_NOT_REFUNDABLE = "payment_not_refundable"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    PROVIDER_REFUSED = "provider_refused"
    INVALID_SIGNATURE = "invalid_signature"
    INVALID_NOTIFICATION = "invalid_notification"
    INVALID_STATEMENT = "invalid_statement"
