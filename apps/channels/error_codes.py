from enum import StrEnum


class ChannelErrorCode(StrEnum):
    SHOP_NOT_FOUND = "shop_not_found"
    SHOP_MISMATCH = "shop_mismatch"
    PUSH_NOT_SUPPORTED = "push_not_supported"
    INVALID_PAYLOAD = "invalid_payload"
    BATCH_TOO_LARGE = "batch_too_large"
    UNMAPPED_SKU = "unmapped_sku"
    CONVERSION_FAILED = "conversion_failed"
    ORDER_UPDATE_FAILED = "order_update_failed"
    PLATFORM_ERROR = "platform_error"
    INVALID_STATUS = "invalid_status"
