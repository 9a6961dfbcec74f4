"""WeChat mini-program shop / Channels shop (微信小店, ``/channels/ec/...``).

Auth: the ``access_token`` query parameter: the shop's stored token when it has one (from a
central token service or a service provider's authorization), else one from ``GET
/cgi-bin/token?grant_type=client_credential&appid=&secret=`` (app key = appid), cached until
shortly before ``expires_in``. Errcode 40001 / 42001 (invalid or expired token) drop a
fetched token and count as transient; with a stored token they are permanent (staff must
store a new one). -1 (busy) and 45009 (call limit) are transient, other errcodes permanent.

Orders: ``POST /channels/ec/order/list/get`` with ``update_time_range{start_time,
end_time}`` (Unix seconds), ``page_size`` and ``next_key``; answer ``order_id_list``,
``next_key`` (an opaque cursor after the last order served, followed forwards),
``has_more``; then ``POST /channels/ec/order/get`` ``{order_id}`` per order.

Mapping (``order``): order_id; status 10 (待付款) -> wait_pay, 20 (待发货) / 21 (部分发货)
-> paid, 30 (待收货) -> shipped, 100 (完成) -> completed, 200 / 250 (取消) -> cancelled;
openid -> buyer; order_detail.delivery_info.address_info{user_name, tel_number,
province_name, city_name, county_name, detail_info}; order_detail.product_infos[{sku_id,
out_sku_id, title, sku_cnt, sale_price (fen, unit), real_price (fen, line paid)}];
price_info{order_price (paid), freight} (fen); pay_info.pay_time, update_time (Unix);
ext_info.customer_notes. aftersale_detail.aftersale_order_list[{aftersale_order_id,
status, refund_amount, sku_id}] with status not in (closed, refused) are refund requests.

Write-back: ``/channels/ec/order/delivery/send`` (order_id, delivery_list[{delivery_id,
waybill_id, deliver_type=1}]). Stock: ``/channels/ec/product/stock/update`` (product_id,
sku_id, diff_type=3 = set, num).
"""

from datetime import datetime
from typing import Any

from django.core.cache import cache

from apps.channels.adapters.base import (
    HttpCall,
    NormalizedLine,
    NormalizedOrder,
    NormalizedRefund,
    NormalizedStatus,
    PayloadError,
    PermanentAdapterError,
    PlatformAdapter,
    StockItem,
    adapter_error,
    cents,
    from_unix,
    normalized_order,
    require,
)

STATUS_MAP = {
    10: NormalizedStatus.WAIT_PAY,
    20: NormalizedStatus.PAID,
    21: NormalizedStatus.PAID,
    30: NormalizedStatus.SHIPPED,
    100: NormalizedStatus.COMPLETED,
    200: NormalizedStatus.CANCELLED,
    250: NormalizedStatus.CANCELLED,
}
TOKEN_ERRORS = {40001, 42001}
TRANSIENT_CODES = {-1, 45009}
CLOSED_AFTERSALE_STATUSES = {"MERCHANT_REFUSE_REFUND", "USER_CANCELD", "MERCHANT_REFUND_SUCCESS", "CLOSED"}


class WechatAdapter(PlatformAdapter):
    platform = "wechat"
    order_id_field = "order_id"
    default_base_url = "https://api.weixin.qq.com"
    page_size = 50
    paging = "cursor"  # next_key marks the last order served; no page numbers, no total
    carrier_codes = {"sf": "SF", "zto": "ZTO", "yto": "YTO", "sto": "STO", "yunda": "YD", "jd": "JD", "ems": "EMS"}

    @property
    def _token_key(self) -> str:
        return f"channels:wechat-token:{self.shop.pk}"

    @property
    def _uses_shop_token(self) -> bool:
        return bool(self.shop.access_token_encrypted)

    def access_token(self) -> str:
        """The token stored on the shop (issued by a central token service or a service
        provider's authorization: several callers of /cgi-bin/token invalidate each other's
        tokens), else one fetched with the app secret and cached."""
        if self._uses_shop_token:
            return self.shop_access_token()
        token = cache.get(self._token_key)
        if token:
            return token
        body = self.call(
            HttpCall(
                method="GET",
                path="/cgi-bin/token",
                params={"grant_type": "client_credential", "appid": self.shop.app_key, "secret": self.shop.app_secret},
            )
        )
        token = body.get("access_token")
        if not token:
            raise PermanentAdapterError("WeChat gave no access_token")
        cache.set(self._token_key, token, timeout=max(int(body.get("expires_in", 7200)) - 300, 60))
        return token

    def _post(self, path: str, payload: dict) -> Any:
        return self.call(HttpCall(method="POST", path=path, params={"access_token": self.access_token()}, json=payload))

    def first_page_token(self) -> Any:
        return ""

    def fetch_order_page(self, *, start: datetime, end: datetime, token: Any) -> tuple[list[dict], Any]:
        listing = self._post(
            "/channels/ec/order/list/get",
            {
                "update_time_range": {"start_time": int(start.timestamp()), "end_time": int(end.timestamp())},
                "page_size": self.page_size,
                "next_key": token,
            },
        )
        orders = [self._post("/channels/ec/order/get", {"order_id": oid})["order"] for oid in listing["order_id_list"]]
        return orders, (listing.get("next_key") if listing.get("has_more") else None)

    def check_response(self, body: Any) -> None:
        code = body.get("errcode", 0) if isinstance(body, dict) else None
        if code == 0:
            return
        message = f"WeChat error {code}: {body.get('errmsg', '') if isinstance(body, dict) else body}"
        # A fetched token is fetched again on the retry; a stored one cannot be renewed here.
        refetch = code in TOKEN_ERRORS and not self._uses_shop_token
        if refetch:
            cache.delete(self._token_key)
        raise adapter_error(message, code=code, transient=refetch or code in TRANSIENT_CODES)

    def parse_payload(self, raw: dict) -> NormalizedOrder:
        platform_status = int(require(raw, "status"))
        detail = raw.get("order_detail") or {}
        address = (detail.get("delivery_info") or {}).get("address_info") or {}
        price = detail.get("price_info") or {}
        lines = []
        for product in detail.get("product_infos") or []:
            quantity = int(require(product, "sku_cnt"))
            unit_price = cents(require(product, "sale_price"))
            real = cents(product["real_price"]) if "real_price" in product else unit_price * quantity
            lines.append(
                NormalizedLine(
                    platform_sku_id=str(require(product, "sku_id")),
                    outer_id=str(product.get("out_sku_id", "")),
                    title=str(product.get("title", ""))[:200],
                    quantity=quantity,
                    unit_price=unit_price,
                    discount_amount=max(unit_price * quantity - real, cents(0)),
                )
            )
        if not lines:
            raise PayloadError("order has no order_detail.product_infos")
        refunds = tuple(
            NormalizedRefund(
                platform_refund_id=str(aftersale["aftersale_order_id"]),
                amount=cents(aftersale.get("refund_amount")),
                reason=str(aftersale.get("reason", "")),
                kind="return_refund" if aftersale.get("type") == "RETURN" else "refund_only",
                platform_sku_ids=(str(aftersale.get("sku_id", "")),),
            )
            for aftersale in (raw.get("aftersale_detail") or {}).get("aftersale_order_list") or []
            if aftersale.get("aftersale_order_id") and aftersale.get("status") not in CLOSED_AFTERSALE_STATUSES
        )
        shipping_fee = cents(price.get("freight"))
        paid_amount = cents(price.get("order_price"))
        return normalized_order(
            platform_order_id=str(require(raw, "order_id")),
            status=STATUS_MAP.get(platform_status, NormalizedStatus.WAIT_PAY),
            platform_status=str(platform_status),
            buyer_id=str(raw.get("openid", "")),
            recipient_name=str(address.get("user_name", "")),
            recipient_phone=str(address.get("tel_number", "")),
            province=str(address.get("province_name", "")),
            city=str(address.get("city_name", "")),
            district=str(address.get("county_name", "")),
            address=str(address.get("detail_info", "")),
            lines=tuple(lines),
            shipping_fee=shipping_fee,
            paid_amount=paid_amount,
            paid_at=from_unix((detail.get("pay_info") or {}).get("pay_time")),
            updated_at=from_unix(require(raw, "update_time")),
            buyer_message=str((detail.get("ext_info") or {}).get("customer_notes", ""))[:500],
            refunds=refunds,
        )

    def ship(self, *, platform_order_id: str, carrier: str, tracking_no: str) -> None:
        self._post(
            "/channels/ec/order/delivery/send",
            {
                "order_id": platform_order_id,
                "delivery_list": [
                    {"delivery_id": self.carrier_code(carrier), "waybill_id": tracking_no, "deliver_type": 1}
                ],
            },
        )

    def push_stock(self, *, item: StockItem) -> None:
        self._post(
            "/channels/ec/product/stock/update",
            {"product_id": item.platform_item_id, "sku_id": item.platform_sku_id, "diff_type": 3, "num": item.quantity},
        )
