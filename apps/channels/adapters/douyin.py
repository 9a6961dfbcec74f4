"""Douyin shop (抖店) open platform.

Request: ``/{method with dots as slashes}`` (``/order/searchList``) with query parameters
``app_key``, ``method``, ``param_json`` (API parameters as compact JSON with sorted keys),
``timestamp`` ("yyyy-MM-dd HH:mm:ss"), ``v=2``, ``sign_method=hmac-sha256`` and ``sign`` =
hex(HMAC-SHA256(secret, secret + "app_key"... "method"... "param_json"... "timestamp"...
"v"... + secret)) (``signing.douyin_sign``), plus ``access_token`` (the shop's authorization,
not part of the signature). Answers: ``{"code": 10000, "msg", "data"}``;
other codes are errors: 50002 (busy) / 70001 (call limit) transient, the rest permanent.

Orders: ``order.searchList`` with ``update_time_start``/``update_time_end`` (Unix seconds),
``order_by=update_time``, ``order_asc=true``, ``page`` (from 0), ``size``; answer
``data.shop_order_list[]`` and ``data.total``.

Mapping: order_id; order_status 1 (待支付) -> wait_pay, 105 (已支付) / 2 (备货中, 待发货) /
101 (部分发货) -> paid, 3 (已发货) -> shipped, 5 (已完成) -> completed, 4 (已取消) ->
cancelled; doudian_open_id -> buyer; post_receiver, post_tel, post_addr{province{name},
city{name}, town{name}, detail}; sku_order_list[{sku_id, out_sku_id, product_name, item_num,
origin_amount, pay_amount}] (fen) -> lines with unit price origin_amount / item_num and the
difference to pay_amount as line discount; pay_amount, post_amount (fen); pay_time,
update_time (Unix); buyer_words. A sku order whose after_sale_info has an after_sale_id and
refund_status 1 (待退款) is a refund request.

Write-back: ``order.logisticsAdd`` (order_id, company_code, logistics_code). Stock:
``sku.syncStock`` (product_id, sku_id, stock_num, incremental=false).
"""

import json
from datetime import datetime
from typing import Any

from apps.channels.adapters.base import (
    HttpCall,
    NormalizedLine,
    NormalizedOrder,
    NormalizedRefund,
    NormalizedStatus,
    PayloadError,
    PlatformAdapter,
    StockItem,
    adapter_error,
    cents,
    format_local,
    from_unix,
    normalized_order,
    require,
)
from apps.channels.adapters.signing import douyin_sign

STATUS_MAP = {
    1: NormalizedStatus.WAIT_PAY,
    105: NormalizedStatus.PAID,
    2: NormalizedStatus.PAID,
    101: NormalizedStatus.PAID,
    3: NormalizedStatus.SHIPPED,
    5: NormalizedStatus.COMPLETED,
    4: NormalizedStatus.CANCELLED,
}
TRANSIENT_CODES = {50002, 70001, 90000}


class DouyinAdapter(PlatformAdapter):
    platform = "douyin"
    order_id_field = "order_id"
    default_base_url = "https://openapi-fxg.jinritemai.com"
    page_size = 50
    carrier_codes = {
        "sf": "shunfeng",
        "zto": "zhongtong",
        "yto": "yuantong",
        "sto": "shentong",
        "yunda": "yunda",
        "jd": "jd",
        "ems": "ems",
    }

    def first_page_token(self) -> Any:
        return 0

    def _call(self, method: str, params: dict[str, Any]) -> HttpCall:
        param_json = json.dumps(params, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        timestamp = format_local(datetime.now().astimezone())
        sign = douyin_sign(
            app_key=self.shop.app_key,
            method=method,
            param_json=param_json,
            timestamp=timestamp,
            v="2",
            secret=self.shop.app_secret,
        )
        query = {
            "app_key": self.shop.app_key,
            "method": method,
            "param_json": param_json,
            "timestamp": timestamp,
            "v": "2",
            "sign_method": "hmac-sha256",
            "sign": sign,
            # The shop's authorization travels beside the signature, not inside it.
            "access_token": self.shop_access_token(),
        }
        return HttpCall(method="POST", path="/" + method.replace(".", "/"), params=query)

    def build_order_page_request(self, *, start: datetime, end: datetime, token: Any) -> HttpCall:
        return self._call(
            "order.searchList",
            {
                "update_time_start": int(start.timestamp()),
                "update_time_end": int(end.timestamp()),
                "order_by": "update_time",
                "order_asc": True,
                "page": token,
                "size": self.page_size,
            },
        )

    def parse_order_page(self, body: Any, *, token: Any) -> tuple[list[dict], int]:
        data = body.get("data") or {}
        return data.get("shop_order_list") or [], int(data.get("total") or 0)

    def check_response(self, body: Any) -> None:
        code = body.get("code") if isinstance(body, dict) else None
        if code == 10000:
            return
        message = f"Douyin error {code}: {body.get('msg', '') if isinstance(body, dict) else body}"
        raise adapter_error(message, code=code, transient=code in TRANSIENT_CODES)

    def parse_payload(self, raw: dict) -> NormalizedOrder:
        platform_status = int(require(raw, "order_status"))
        address = raw.get("post_addr") or {}
        sku_orders = raw.get("sku_order_list") or []
        lines = []
        refunds = []
        for sku in sku_orders:
            quantity = int(require(sku, "item_num"))
            origin = cents(require(sku, "origin_amount"))
            paid = cents(sku.get("pay_amount", sku["origin_amount"]))
            lines.append(
                NormalizedLine(
                    platform_sku_id=str(require(sku, "sku_id")),
                    outer_id=str(sku.get("out_sku_id", "")),
                    title=str(sku.get("product_name", ""))[:200],
                    quantity=quantity,
                    unit_price=(origin / quantity).quantize(origin),
                    discount_amount=max(origin - paid, cents(0)),
                )
            )
            after_sale = sku.get("after_sale_info") or {}
            if after_sale.get("after_sale_id") and after_sale.get("refund_status") == 1:
                refunds.append(
                    NormalizedRefund(
                        platform_refund_id=str(after_sale["after_sale_id"]),
                        amount=paid,
                        reason=str(after_sale.get("reason", "")),
                        kind="return_refund" if after_sale.get("after_sale_type") == 0 else "refund_only",
                        platform_sku_ids=(str(sku["sku_id"]),),
                    )
                )
        if not lines:
            raise PayloadError("order has no sku_order_list")
        shipping_fee = cents(raw.get("post_amount"))
        paid_amount = cents(raw.get("pay_amount"))
        return normalized_order(
            platform_order_id=str(require(raw, "order_id")),
            status=STATUS_MAP.get(platform_status, NormalizedStatus.WAIT_PAY),
            platform_status=str(platform_status),
            buyer_id=str(raw.get("doudian_open_id", "")),
            recipient_name=str(raw.get("post_receiver", "")),
            recipient_phone=str(raw.get("post_tel", "")),
            province=str((address.get("province") or {}).get("name", "")),
            city=str((address.get("city") or {}).get("name", "")),
            district=str((address.get("town") or {}).get("name", "")),
            address=str(address.get("detail", "")),
            lines=tuple(lines),
            shipping_fee=shipping_fee,
            paid_amount=paid_amount,
            paid_at=from_unix(raw.get("pay_time")),
            updated_at=from_unix(require(raw, "update_time")),
            buyer_message=str(raw.get("buyer_words", ""))[:500],
            refunds=tuple(refunds),
        )

    def build_ship_request(self, *, platform_order_id: str, carrier_code: str, tracking_no: str) -> HttpCall:
        return self._call(
            "order.logisticsAdd",
            {"order_id": platform_order_id, "company_code": carrier_code, "logistics_code": tracking_no},
        )

    def build_stock_request(self, *, item: StockItem) -> HttpCall:
        return self._call(
            "sku.syncStock",
            {
                "product_id": item.platform_item_id,
                "sku_id": item.platform_sku_id,
                "stock_num": item.quantity,
                "incremental": False,
            },
        )
