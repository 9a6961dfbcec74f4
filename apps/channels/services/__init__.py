"""The channel services: every write of the channels app goes through one of these."""

from apps.channels.services.conversion import (
    ConversionReport,
    raw_orders_convert_batch,
    raw_orders_ignore,
    raw_orders_requeue,
    raw_orders_requeue_due,
)
from apps.channels.services.mappings import shop_set_app_secret, sku_mapping_save
from apps.channels.services.pull import shop_pull, shops_due_for_pull
from apps.channels.services.raw_orders import Outcome, SaveResult, raw_orders_receive, raw_orders_save
from apps.channels.services.retention import channel_records_purge
from apps.channels.services.stock_sync import (
    sellable_quantities,
    shops_for_full_sync,
    stock_mark_dirty,
    stock_sync_schedule,
    stock_sync_shop,
)
from apps.channels.services.tokens import access_tokens_check_expiry, shop_set_access_token
from apps.channels.services.writeback import writeback_attempt, writeback_retry, writebacks_create, writebacks_due

__all__ = [
    "ConversionReport",
    "Outcome",
    "SaveResult",
    "access_tokens_check_expiry",
    "channel_records_purge",
    "raw_orders_convert_batch",
    "raw_orders_ignore",
    "raw_orders_receive",
    "raw_orders_requeue",
    "raw_orders_requeue_due",
    "raw_orders_save",
    "sellable_quantities",
    "shop_pull",
    "shop_set_access_token",
    "shop_set_app_secret",
    "shops_due_for_pull",
    "shops_for_full_sync",
    "sku_mapping_save",
    "stock_mark_dirty",
    "stock_sync_schedule",
    "stock_sync_shop",
    "writeback_attempt",
    "writeback_retry",
    "writebacks_create",
    "writebacks_due",
]
