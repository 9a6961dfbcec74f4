from enum import StrEnum


class OrderErrorCode(StrEnum):
    ORDER_NOT_FOUND = "order_not_found"
    INVALID_STATUS = "invalid_status"
    VALIDATION_ERROR = "validation_error"
    DUPLICATE_PLATFORM_ORDER = "duplicate_platform_order"
    PAYMENT_AMOUNT_MISMATCH = "payment_amount_mismatch"
    REFUND_EXCEEDS_PAID = "refund_exceeds_paid"
    FULFILLMENT_SHIPPED = "fulfillment_shipped"
    FULFILLMENT_MERGED = "fulfillment_merged"
    SENT_TO_WMS = "sent_to_wms"
    PRICE_MISMATCH = "price_mismatch"
    DISCOUNT_NOT_ALLOWED = "discount_not_allowed"
    TOO_MANY_UNPAID_ORDERS = "too_many_unpaid_orders"
    UNKNOWN_FIELD = "unknown_field"
    VERSION_CONFLICT = "version_conflict"
