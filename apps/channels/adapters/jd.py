"""JD POP through the JOS router (``/routerjson``).

Request: query parameters ``method``, ``app_key``, ``access_token`` (the seller's
authorization), ``timestamp`` ("yyyy-MM-dd HH:mm:ss"), ``v=2.0``, ``360buy_param_json`` (the
API parameters as one JSON string) and ``sign`` = upper(hex(md5(secret + sorted key+value +
secret))) over all of those, the access token included.

Orders: ``jingdong.pop.order.search`` with ``start_date``/``end_date``, ``dateType=1``
(modified time), ``sortType=1`` (ascending), ``page``, ``page_size``; answer
``jingdong_pop_order_search_responce.searchorderinfo_result`` (``orderInfoList``,
``orderTotal``). Errors: ``error_response{code, zh_desc, en_desc}``; 66/67/70/85 (system
busy, call limits) are transient, the rest (e.g. 19, bad signature) permanent.

Mapping (JOS ``orderState``): WAIT_SELLER_STOCK_OUT (等待出库) and WAIT_SELLER_DELIVERY
(等待发货: cross-border shops' "waiting for domestic shipment", a paid order) -> paid;
WAIT_GOODS_RECEIVE_CONFIRM (等待确认收货) -> shipped; FINISHED_L (完成) -> completed;
TRADE_CANCELED (取消) -> cancelled; LOCKED (已锁定: a cancellation or after-sale is pending),
POP_ORDER_PAUSE (POP 暂停) and PAUSE (暂停) -> locked: paid, but JD forbids shipping it for
now, so the order is kept and held, never cancelled. The order search returns online-payment
orders only once paid, so no JD state means unpaid (货到付款 orders are not handled).
Fields: orderId;
pin -> buyer; consigneeInfo{fullname, mobile, province, city, county, fullAddress};
itemInfoList[{skuId, outerSkuId, skuName, itemTotal, jdPrice}]; orderPayment (paid),
freightPrice, paymentConfirmTime, modified, orderRemark (buyer message).

Refunds: JD does not carry refund requests in the order; its refund applications
(退款审核单, the buyer's request to cancel and refund a paid order) come from
``jingdong.pop.afs.soa.refundapply.queryPageList`` with ``applyTimeStart``/``applyTimeEnd``,
``pageIndex`` (from 1), ``pageSize``; answer
``jingdong_pop_afs_soa_refundapply_queryPageList_responce.queryResult{result[], totalCount}``,
each ``{id, orderId, applyTime, applyRefundSum (fen), status, checkTime, reason, buyerId}``.
``fetch_orders`` reads the window's applications first (their apply time never changes, so
forward pages are stable), then the window's orders, and stores each application inside its
order's payload under ``refundApplyList`` (our key, not JD's): an order not among the
window's orders is fetched by id with ``jingdong.pop.order.get`` (``order_id``; answer
``jingdong_pop_order_get_responce.orderDetailInfo.orderInfo``), and all of it is served
before the window's last page, so the pull's cursor passes the window only once every
application is saved. ``merge_stored`` keeps the applications an earlier pull stored when the
order comes again without them. Each application is a ``refund_only`` NormalizedRefund of
``applyRefundSum`` for the whole order (no SKUs); status 2 and 4 (审核不通过, 京东财务审核不通过)
are refused and ignored. Not confirmed from public docs: whether ``applyRefundSum`` is fen
(integrations read it as fen), the full status list, and whether an application is also
found by ``checkTime`` (only ``applyTime`` is queried). JD's after-shipment after-sales
(``jingdong.afsService...``) are not read.

Write-back: ``jingdong.pop.order.shipment`` (orderId, logiCoprId, logiNo). Stock:
``jingdong.stock.write.updateSkuStock`` (skuId, stockNum).
"""

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from apps.channels.adapters.base import (
    HttpCall,
    NormalizedLine,
    NormalizedOrder,
    NormalizedRefund,
    NormalizedStatus,
    OrderPage,
    PayloadError,
    PermanentAdapterError,
    PlatformAdapter,
    StockItem,
    adapter_error,
    cents,
    format_local,
    normalized_order,
    parse_local,
    require,
    yuan,
)
from apps.channels.adapters.signing import top_sign

STATUS_MAP = {
    "WAIT_SELLER_STOCK_OUT": NormalizedStatus.PAID,
    "WAIT_SELLER_DELIVERY": NormalizedStatus.PAID,
    "WAIT_GOODS_RECEIVE_CONFIRM": NormalizedStatus.SHIPPED,
    "FINISHED_L": NormalizedStatus.COMPLETED,
    "TRADE_CANCELED": NormalizedStatus.CANCELLED,
    "LOCKED": NormalizedStatus.LOCKED,
    "POP_ORDER_PAUSE": NormalizedStatus.LOCKED,
    "PAUSE": NormalizedStatus.LOCKED,
}
TRANSIENT_CODES = {"66", "67", "70", "85"}
REFUND_APPLY_KEY = "refundApplyList"  # our key for the order's refund applications
REFUSED_REFUND_STATUSES = {"2", "4"}


class JdAdapter(PlatformAdapter):
    platform = "jd"
    order_id_field = "orderId"
    default_base_url = "https://api.jd.com"
    page_size = 50
    carrier_codes = {"sf": "467", "zto": "463", "yto": "2", "sto": "470", "yunda": "1327", "jd": "2087", "ems": "465"}

    def _jos_call(self, method: str, params: dict[str, Any]) -> HttpCall:
        query = {
            "method": method,
            "app_key": self.shop.app_key,
            "access_token": self.shop_access_token(),  # the seller's authorization; signed with the rest
            "timestamp": format_local(datetime.now().astimezone()),
            "v": "2.0",
            "360buy_param_json": json.dumps(params, separators=(",", ":"), sort_keys=True, ensure_ascii=False),
        }
        query["sign"] = top_sign(query, self.shop.app_secret)
        return HttpCall(method="POST", path="/routerjson", data=query)

    def build_order_page_request(self, *, start: datetime, end: datetime, token: Any) -> HttpCall:
        return self._jos_call(
            "jingdong.pop.order.search",
            {
                "start_date": format_local(start),
                "end_date": format_local(end),
                "dateType": 1,
                "sortType": 1,
                "order_state": ",".join(STATUS_MAP),
                "page": str(token),
                "page_size": str(self.page_size),
            },
        )

    def parse_order_page(self, body: Any, *, token: Any) -> tuple[list[dict], int]:
        result = (body.get("jingdong_pop_order_search_responce") or {}).get("searchorderinfo_result") or {}
        return result.get("orderInfoList") or [], int(result.get("orderTotal") or 0)

    def fetch_orders(self, *, start: datetime, end: datetime) -> Iterator[OrderPage]:
        """The window's orders with the window's refund applications in their payloads; the
        orders that only have a new application are fetched by id and served before the
        window's last page."""
        applies = self.fetch_refund_applies(start=start, end=end)
        seen: set[str] = set()
        last_page = None
        for page in super().fetch_orders(start=start, end=end):
            raws = [raw for raw, _normalized in page.orders] + [raw for raw, _error in page.unreadable]
            seen.update(self.platform_order_id_of(raw) for raw in raws)
            page = self._order_page(
                number=page.number, raw_orders=[self._with_applies(raw, applies) for raw in raws], last=page.last
            )
            if page.last:
                last_page = page
            else:
                yield page
        missing = [order_id for order_id in applies if order_id not in seen]
        if missing:
            raws = [self._with_applies(self.fetch_order(order_id), applies) for order_id in missing]
            yield self._order_page(number=0, raw_orders=raws, last=False)
        yield last_page

    def fetch_refund_applies(self, *, start: datetime, end: datetime) -> dict[str, list[dict]]:
        """The refund applications made in [start, end], by order id."""
        applies: dict[str, list[dict]] = {}
        page = 1
        while True:
            body = self.call(
                self._jos_call(
                    "jingdong.pop.afs.soa.refundapply.queryPageList",
                    {
                        "applyTimeStart": format_local(start),
                        "applyTimeEnd": format_local(end),
                        "pageIndex": str(page),
                        "pageSize": str(self.page_size),
                    },
                )
            )
            answer = (body.get("jingdong_pop_afs_soa_refundapply_queryPageList_responce") or {}).get("queryResult")
            rows = (answer or {}).get("result") or []
            for row in rows:
                if isinstance(row, dict) and row.get("orderId") not in (None, ""):
                    applies.setdefault(str(row["orderId"]), []).append(row)
            if not rows or page * self.page_size >= int((answer or {}).get("totalCount") or 0):
                return applies
            page += 1

    def fetch_order(self, order_id: str) -> dict:
        body = self.call(self._jos_call("jingdong.pop.order.get", {"order_id": order_id}))
        order = ((body.get("jingdong_pop_order_get_responce") or {}).get("orderDetailInfo") or {}).get("orderInfo")
        if not isinstance(order, dict):
            raise PermanentAdapterError(f"JD order {order_id} of a refund application not found", code="not_found")
        return order

    @staticmethod
    def _with_applies(raw: Any, applies: dict[str, list[dict]]) -> Any:
        found = applies.get(str(raw.get("orderId", ""))) if isinstance(raw, dict) else None
        return _merge_applies(raw, found) if found else raw

    def merge_stored(self, payload: dict, stored: dict) -> dict:
        return _merge_applies(payload, stored.get(REFUND_APPLY_KEY) if isinstance(stored, dict) else None)

    def check_response(self, body: Any) -> None:
        error = body.get("error_response") if isinstance(body, dict) else None
        if error:
            code = str(error.get("code", ""))
            message = f"JOS error {code}: {error.get('en_desc') or error.get('zh_desc', '')}"
            raise adapter_error(message, code=code, transient=code in TRANSIENT_CODES)
        for answer in body.values() if isinstance(body, dict) else ():
            if isinstance(answer, dict) and str(answer.get("code", "0")) != "0":
                raise PermanentAdapterError(f"JOS answer code {answer.get('code')}", code=str(answer.get("code")))

    def parse_payload(self, raw: dict) -> NormalizedOrder:
        platform_status = require(raw, "orderState")
        consignee = raw.get("consigneeInfo") or {}
        lines = tuple(
            NormalizedLine(
                platform_sku_id=str(require(item, "skuId")),
                outer_id=str(item.get("outerSkuId", "")),
                title=str(item.get("skuName", ""))[:200],
                quantity=int(require(item, "itemTotal")),
                unit_price=yuan(require(item, "jdPrice")),
            )
            for item in raw.get("itemInfoList") or []
        )
        if not lines:
            raise PayloadError("order has no itemInfoList")
        shipping_fee = yuan(raw.get("freightPrice"))
        paid_amount = yuan(raw.get("orderPayment"))
        paid_at = parse_local(raw.get("paymentConfirmTime"))
        return normalized_order(
            platform_order_id=str(require(raw, "orderId")),
            status=STATUS_MAP.get(platform_status, NormalizedStatus.WAIT_PAY),
            platform_status=platform_status,
            buyer_id=str(raw.get("pin", "")),
            recipient_name=str(consignee.get("fullname", "")),
            recipient_phone=str(consignee.get("mobile") or consignee.get("telephone") or ""),
            province=str(consignee.get("province", "")),
            city=str(consignee.get("city", "")),
            district=str(consignee.get("county", "")),
            address=str(consignee.get("fullAddress", "")),
            lines=lines,
            shipping_fee=shipping_fee,
            paid_amount=paid_amount,
            paid_at=paid_at,
            updated_at=parse_local(require(raw, "modified")),
            buyer_message=str(raw.get("orderRemark", ""))[:500],
            refunds=tuple(
                NormalizedRefund(
                    platform_refund_id=str(require(apply, "id")),
                    amount=cents(apply.get("applyRefundSum")),
                    reason=str(apply.get("reason", "")),
                )
                for apply in raw.get(REFUND_APPLY_KEY) or []
                if str(apply.get("status", "")) not in REFUSED_REFUND_STATUSES
            ),
        )

    def build_ship_request(self, *, platform_order_id: str, carrier_code: str, tracking_no: str) -> HttpCall:
        return self._jos_call(
            "jingdong.pop.order.shipment",
            {"orderId": platform_order_id, "logiCoprId": carrier_code, "logiNo": tracking_no},
        )

    def build_stock_request(self, *, item: StockItem) -> HttpCall:
        return self._jos_call(
            "jingdong.stock.write.updateSkuStock", {"skuId": item.platform_sku_id, "stockNum": item.quantity}
        )


def _merge_applies(payload: dict, applies: Any) -> dict:
    """``payload`` with ``applies`` added to its refund applications (by id; those already in
    it win); ``payload`` itself when that adds nothing."""
    current = payload.get(REFUND_APPLY_KEY) or []
    known = {str(apply.get("id")) for apply in current if isinstance(apply, dict)}
    added = {
        str(apply["id"]): apply
        for apply in applies or []
        if isinstance(apply, dict) and apply.get("id") not in (None, "") and str(apply["id"]) not in known
    }
    if not added:
        return payload
    merged = sorted([*current, *added.values()], key=lambda apply: str(apply.get("id")))
    return {**payload, REFUND_APPLY_KEY: merged}
