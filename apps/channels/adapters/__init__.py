"""Platform adapters: ``adapter_for(shop)`` returns the one that speaks the shop's platform."""

from apps.channels.adapters.base import (
    AdapterError,
    NormalizedLine,
    NormalizedOrder,
    NormalizedRefund,
    NormalizedStatus,
    PayloadError,
    PermanentAdapterError,
    PlatformAdapter,
    StockItem,
    TransientAdapterError,
)
from apps.channels.adapters.douyin import DouyinAdapter
from apps.channels.adapters.jd import JdAdapter
from apps.channels.adapters.tmall import TmallAdapter
from apps.channels.adapters.wechat import WechatAdapter
from apps.shops.models import Platform

ADAPTERS: dict[str, type[PlatformAdapter]] = {
    Platform.TMALL: TmallAdapter,
    Platform.JD: JdAdapter,
    Platform.DOUYIN: DouyinAdapter,
    Platform.WECHAT: WechatAdapter,
}


def adapter_for(shop) -> PlatformAdapter | None:
    """The adapter of ``shop``'s platform; None for our own API shops (they have none)."""
    adapter_class = ADAPTERS.get(shop.platform)
    return adapter_class(shop) if adapter_class else None


__all__ = [
    "ADAPTERS",
    "AdapterError",
    "NormalizedLine",
    "NormalizedOrder",
    "NormalizedRefund",
    "NormalizedStatus",
    "PayloadError",
    "PermanentAdapterError",
    "PlatformAdapter",
    "StockItem",
    "TransientAdapterError",
    "adapter_for",
]
