from enum import StrEnum


class AfterSaleErrorCode(StrEnum):
    AFTERSALE_NOT_FOUND = "aftersale_not_found"
    ORDER_NOT_FOUND = "order_not_found"
    INVALID_STATUS = "invalid_status"
    ORDER_NOT_ELIGIBLE = "order_not_eligible"
    ORDER_NOT_SHIPPED = "order_not_shipped"
    INVALID_LINES = "invalid_lines"
    EXCHANGE_SKU_NOT_FOUND = "exchange_sku_not_found"
    EXCHANGE_SKU_INACTIVE = "exchange_sku_inactive"
    QUANTITY_EXCEEDS_RETURNABLE = "quantity_exceeds_returnable"
    AMOUNT_EXCEEDS_REFUNDABLE = "amount_exceeds_refundable"
    INVALID_AMOUNT = "invalid_amount"
    RETURN_ALREADY_SENT = "return_already_sent"
    NOT_REQUESTER = "not_requester"
    INSPECTION_REQUIRED = "inspection_required"
    WAREHOUSE_REQUIRED = "warehouse_required"
    WORKORDER_NOT_FOUND = "workorder_not_found"
    INVALID_PRIORITY = "invalid_priority"
    INVALID_ASSIGNEE = "invalid_assignee"
