"""Tmall / Taobao through the TOP router (``/router/rest``).

Request: form parameters ``method``, ``app_key``, ``timestamp`` ("yyyy-MM-dd HH:mm:ss",
Beijing time), ``format=json``, ``v=2.0``, ``sign_method`` (md5 or hmac-sha256), ``session``
(the seller's access token) and the API parameters; ``sign`` over all of them sorted by name
(see ``signing.top_sign``). A wrong or expired session is error 27 (permanent).

Orders: ``taobao.trades.sold.increment.get`` with ``start_modified``/``end_modified``,
``page_no``, ``page_size``, ``use_has_next=false`` (so the answer carries ``total_results``,
needed to fetch the last page first); answer
``trades_sold_increment_get_response.trades.trade[]`` and ``total_results``. Errors come back as
``error_response{code, msg, sub_code}``: code 7 (call limit), 520/isp.* are transient,
isv.* and signature errors permanent.

Mapping (trade -> NormalizedOrder): tid -> platform_order_id; status WAIT_BUYER_PAY ->
wait_pay, WAIT_SELLER_SEND_GOODS/SELLER_CONSIGNED_PART -> paid, WAIT_BUYER_CONFIRM_GOODS/
TRADE_BUYER_SIGNED -> shipped, TRADE_FINISHED -> completed, TRADE_CLOSED/
TRADE_CLOSED_BY_TAOBAO -> cancelled; buyer_open_uid (or buyer_nick) -> buyer; receiver_name,
receiver_mobile, receiver_state/city/district, receiver_address; orders.order[] (num_iid,
sku_id, outer_sku_id, title, num, price, discount_fee) -> lines; payment, post_fee (yuan
strings) -> paid amount, shipping; pay_time, modified; buyer_message. A sub-order with a
refund_id and refund_status other than NO_REFUND/CLOSED is a refund request.

Write-back: ``taobao.logistics.offline.send`` (tid, out_sid, company_code). Stock:
``taobao.item.quantity.update`` (num_iid, sku_id, quantity, type=1 = full quantity).
"""

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
    format_local,
    normalized_order,
    parse_local,
    require,
    yuan,
)
from apps.channels.adapters.signing import top_sign

STATUS_MAP = {
    "TRADE_NO_CREATE_PAY": NormalizedStatus.WAIT_PAY,
    "WAIT_BUYER_PAY": NormalizedStatus.WAIT_PAY,
    "WAIT_SELLER_SEND_GOODS": NormalizedStatus.PAID,
    "SELLER_CONSIGNED_PART": NormalizedStatus.PAID,
    "WAIT_BUYER_CONFIRM_GOODS": NormalizedStatus.SHIPPED,
    "TRADE_BUYER_SIGNED": NormalizedStatus.SHIPPED,
    "TRADE_FINISHED": NormalizedStatus.COMPLETED,
    "TRADE_CLOSED": NormalizedStatus.CANCELLED,
    "TRADE_CLOSED_BY_TAOBAO": NormalizedStatus.CANCELLED,
}
CLOSED_REFUND_STATUSES = {"NO_REFUND", "CLOSED", "SELLER_REFUSE_BUYER"}
ORDER_FIELDS = (
    "tid,status,buyer_nick,buyer_open_uid,receiver_name,receiver_mobile,receiver_state,receiver_city,"
    "receiver_district,receiver_address,payment,post_fee,total_fee,discount_fee,pay_time,modified,"
    "buyer_message,orders"
)


class TmallAdapter(PlatformAdapter):
    platform = "tmall"
    order_id_field = "tid"
    default_base_url = "https://eco.taobao.com"
    page_size = 40
    sign_method = "md5"
    carrier_codes = {"sf": "SF", "zto": "ZTO", "yto": "YTO", "sto": "STO", "yunda": "YUNDA", "jd": "JD", "ems": "EMS"}

    def _top_call(self, method: str, params: dict[str, Any]) -> HttpCall:
        form = {
            "method": method,
            "app_key": self.shop.app_key,
            "timestamp": format_local(datetime.now().astimezone()),
            "format": "json",
            "v": "2.0",
            "sign_method": self.sign_method,
            "session": self.shop_access_token(),  # the seller's authorization; signed with the rest
            **{key: str(value) for key, value in params.items()},
        }
        form["sign"] = top_sign(form, self.shop.app_secret, self.sign_method)
        return HttpCall(method="POST", path="/router/rest", data=form)

    def build_order_page_request(self, *, start: datetime, end: datetime, token: Any) -> HttpCall:
        return self._top_call(
            "taobao.trades.sold.increment.get",
            {
                "fields": ORDER_FIELDS,
                "start_modified": format_local(start),
                "end_modified": format_local(end),
                "page_no": token,
                "page_size": self.page_size,
                "use_has_next": "false",
            },
        )

    def parse_order_page(self, body: Any, *, token: Any) -> tuple[list[dict], int]:
        answer = body.get("trades_sold_increment_get_response") or {}
        trades = (answer.get("trades") or {}).get("trade") or []
        return trades, int(answer.get("total_results") or 0)

    def check_response(self, body: Any) -> None:
        error = body.get("error_response") if isinstance(body, dict) else None
        if not error:
            return
        code = str(error.get("code", ""))
        sub_code = str(error.get("sub_code", ""))
        message = f"TOP error {code} {sub_code}: {error.get('msg', '')} {error.get('sub_msg', '')}".strip()
        raise adapter_error(message, code=code, transient=code in {"7", "520"} or sub_code.startswith("isp."))

    def parse_payload(self, raw: dict) -> NormalizedOrder:
        platform_status = require(raw, "status")
        sub_orders = (raw.get("orders") or {}).get("order") or []
        lines = tuple(
            NormalizedLine(
                platform_sku_id=str(sub.get("sku_id") or sub.get("num_iid") or ""),
                outer_id=str(sub.get("outer_sku_id") or sub.get("outer_iid") or ""),
                title=str(sub.get("title", ""))[:200],
                quantity=int(require(sub, "num")),
                unit_price=yuan(require(sub, "price")),
                discount_amount=yuan(sub.get("discount_fee")),
            )
            for sub in sub_orders
        )
        if not lines:
            raise PayloadError("trade has no orders.order lines")
        refunds = tuple(
            NormalizedRefund(
                platform_refund_id=str(sub["refund_id"]),
                amount=yuan(sub.get("payment") or sub.get("total_fee")),
                reason=str(sub.get("refund_reason", "")),
                kind="return_refund" if sub.get("refund_status") == "WAIT_BUYER_RETURN_GOODS" else "refund_only",
                platform_sku_ids=(str(sub.get("sku_id") or sub.get("num_iid") or ""),),
            )
            for sub in sub_orders
            if sub.get("refund_id") and sub.get("refund_status", "NO_REFUND") not in CLOSED_REFUND_STATUSES
        )
        shipping_fee = yuan(raw.get("post_fee"))
        paid_amount = yuan(raw.get("payment"))
        updated_at = parse_local(require(raw, "modified"))
        paid_at = parse_local(raw.get("pay_time"))
        return normalized_order(
            platform_order_id=str(require(raw, "tid")),
            status=STATUS_MAP.get(platform_status, NormalizedStatus.WAIT_PAY),
            platform_status=platform_status,
            buyer_id=str(raw.get("buyer_open_uid") or raw.get("buyer_nick") or ""),
            recipient_name=str(raw.get("receiver_name", "")),
            recipient_phone=str(raw.get("receiver_mobile", "")),
            province=str(raw.get("receiver_state", "")),
            city=str(raw.get("receiver_city", "")),
            district=str(raw.get("receiver_district", "")),
            address=str(raw.get("receiver_address", "")),
            lines=lines,
            shipping_fee=shipping_fee,
            paid_amount=paid_amount,
            paid_at=paid_at,
            updated_at=updated_at,
            buyer_message=str(raw.get("buyer_message", ""))[:500],
            refunds=refunds,
        )

    def build_ship_request(self, *, platform_order_id: str, carrier_code: str, tracking_no: str) -> HttpCall:
        return self._top_call(
            "taobao.logistics.offline.send",
            {"tid": platform_order_id, "out_sid": tracking_no, "company_code": carrier_code},
        )

    def build_stock_request(self, *, item: StockItem) -> HttpCall:
        return self._top_call(
            "taobao.item.quantity.update",
            {"num_iid": item.platform_item_id, "sku_id": item.platform_sku_id, "quantity": item.quantity, "type": 1},
        )
