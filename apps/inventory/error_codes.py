from enum import StrEnum


class InventoryErrorCode(StrEnum):
    INSUFFICIENT_STOCK = "insufficient_stock"
    SKU_NOT_FOUND = "sku_not_found"
    SKU_INACTIVE = "sku_inactive"
    WAREHOUSE_NOT_FOUND = "warehouse_not_found"
    WAREHOUSE_INACTIVE = "warehouse_inactive"
    INVALID_QUANTITY = "invalid_quantity"
    BELOW_RESERVED = "below_reserved"
    RESERVATION_NOT_FOUND = "reservation_not_found"
    REALLOCATION_MISMATCH = "reallocation_mismatch"
    SAME_WAREHOUSE = "same_warehouse"
    INVALID_INSPECTION = "invalid_inspection"
    TRANSFER_NOT_FOUND = "transfer_not_found"
    REFERENCE_CONFLICT = "reference_conflict"
