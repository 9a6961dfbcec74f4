"""An HTTP simulator of the four platforms' order, shipment and stock APIs.

It checks every signature and the shop's access token (TOP ``session``, JD / Douyin /
WeChat ``access_token``) the way the platform does: a shop added without a token refuses
every call, as the platform refuses an app the seller never authorized (WeChat also takes a
token fetched from ``/cgi-bin/token`` with the app secret). It pages
answers over an updated-time window (oldest update first: numbered pages with the window's
total on Tmall, JD and Douyin, an opaque keyset cursor in WeChat's ``next_key``), records
shipments and stock updates it accepts, serves JD's refund applications
(``jingdong.pop.afs.soa.refundapply.queryPageList``, numbered pages over the apply time;
tests add them with ``add_refund_apply``) and single JD orders (``jingdong.pop.order.get``),
and has switches to inject failures: the next N calls fail, a given page fails, answers are slow or time out, calls are held until released
(tests use the hold to make two pulls overlap deterministically), or orders change right
after a given page of an order list was answered (``updates_after_page``: the buyer or the
platform updates them between two page requests, which stamps a new update time). The
switches live on ``PlatformSimulator.faults`` and can be set over HTTP with
``POST /_sim/faults``.

It needs no Django: tests start it in a thread on port 0 with ``serve()``.
"""

import json
import secrets
import socketserver
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from zoneinfo import ZoneInfo

from apps.channels.adapters.signing import douyin_sign, top_sign
from apps.channels.simulator.platforms import SimSku, order_id_of, order_updated_at, with_updated_at

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class Faults:
    """Failure switches of one platform."""

    fail_next: int = 0  # the next N calls fail
    fail_page: int | None = None  # every call for this page of an order list fails
    mode: str = "http500"  # http500 | platform (the platform's "busy" error) | timeout
    delay: float = 0.0  # seconds added to every answer
    timeout_seconds: float = 3.0
    hold: threading.Event | None = None  # calls wait for it to be set
    arrived: threading.Event = field(default_factory=threading.Event)
    # Once, right after page N of an order list was answered: merge these fields into the
    # orders (by order id) and stamp their update time with the current time.
    updates_after_page: int | None = None
    updates: dict[str, dict] = field(default_factory=dict)


@dataclass
class SimShop:
    platform: str
    app_key: str
    secret: str
    access_token: str = ""
    skus: list[SimSku] = field(default_factory=list)
    orders: dict[str, dict] = field(default_factory=dict)
    shipments: list[dict] = field(default_factory=list)
    stock: dict[str, int] = field(default_factory=dict)
    stock_updates: list[dict] = field(default_factory=list)
    refund_applies: dict[str, dict] = field(default_factory=dict)  # JD refund applications by id


class SimulatorError(Exception):
    def __init__(self, status: int, body: dict):
        super().__init__(status)
        self.status = status
        self.body = body


BUSY = {
    "tmall": {"error_response": {"code": 520, "msg": "Remote service error", "sub_code": "isp.remote-service-timeout"}},
    "jd": {"error_response": {"code": "66", "en_desc": "System busy", "zh_desc": "系统繁忙"}},
    "douyin": {"code": 50002, "msg": "服务繁忙"},
    "wechat": {"errcode": -1, "errmsg": "system error"},
}
BAD_SIGN = {
    "tmall": {"error_response": {"code": 25, "msg": "Invalid signature", "sub_code": "isv.invalid-signature"}},
    "jd": {"error_response": {"code": "19", "en_desc": "Invalid signature", "zh_desc": "签名无效"}},
    "douyin": {"code": 40004, "msg": "签名校验失败"},
    "wechat": {"errcode": 40001, "errmsg": "invalid credential"},
}
BAD_TOKEN = {
    "tmall": {"error_response": {"code": 27, "msg": "Invalid session", "sub_code": "invalid-sessionkey"}},
    "jd": {"error_response": {"code": "19", "en_desc": "Invalid access_token", "zh_desc": "token已过期或者不存在"}},
    "douyin": {"code": 30002, "msg": "access_token 无效或已过期", "sub_code": "isv.access-token-expired"},
    "wechat": {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"},
}


class PlatformSimulator:
    def __init__(self):
        self.shops: dict[str, SimShop] = {}
        self.faults: dict[str, Faults] = {p: Faults() for p in ("tmall", "jd", "douyin", "wechat")}
        self.tokens: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []  # calls that passed the signature and token checks
        self.requests: list[str] = []  # every request's path, refused ones included
        self.lock = threading.Lock()

    # --- state -------------------------------------------------------------------------

    def add_shop(
        self,
        *,
        platform: str,
        app_key: str,
        secret: str,
        access_token: str = "",
        skus: list[SimSku] | None = None,
    ) -> SimShop:
        """Add or update a shop; ``access_token`` is the token the seller authorized (the
        only one accepted for it; WeChat also accepts tokens fetched with the secret)."""
        with self.lock:
            shop = self.shops.get(app_key)
            if shop is None:
                shop = self.shops[app_key] = SimShop(platform=platform, app_key=app_key, secret=secret)
            shop.secret = secret
            if shop.access_token and shop.access_token != access_token:
                self.tokens.pop(shop.access_token, None)
            shop.access_token = access_token
            if platform == "wechat" and access_token:
                self.tokens[access_token] = app_key
            shop.skus = list(skus or shop.skus)
            return shop

    def put_order(self, app_key: str, order: dict) -> None:
        shop = self.shops[app_key]
        with self.lock:
            shop.orders[order_id_of(shop.platform, order)] = order

    def add_refund_apply(
        self,
        app_key: str,
        *,
        order_id: str,
        refund_id: str,
        amount: Decimal,
        applied_at: datetime | None = None,
        status: int = 0,
        reason: str = "不想要了",
    ) -> dict:
        """A JD buyer asks to have ``amount`` (yuan) of order ``order_id`` refunded (a 退款审核单,
        status 0 = not checked yet). The order document itself is left as it is."""
        shop = self.shops[app_key]
        applied_at = applied_at or datetime.now(tz=SHANGHAI)
        apply = {
            "id": refund_id,
            "orderId": order_id,
            "buyerId": shop.orders.get(order_id, {}).get("pin", ""),
            "applyTime": applied_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            "applyRefundSum": int((amount * 100).to_integral_value()),
            "status": status,
            "checkTime": "",
            "reason": reason,
        }
        with self.lock:
            shop.refund_applies[refund_id] = apply
        return apply

    def reset_faults(self, platform: str | None = None) -> None:
        for name in [platform] if platform else list(self.faults):
            hold = self.faults[name].hold
            if hold is not None:
                hold.set()
            self.faults[name] = Faults()

    # --- HTTP --------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        self.requests.append(path)
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw_body = environ["wsgi.input"].read(length) if length else b""
        content_type = environ.get("CONTENT_TYPE", "")
        if "json" in content_type:
            body = json.loads(raw_body or b"{}")
        else:
            body = {k: v[-1] for k, v in parse_qs(raw_body.decode()).items()}
        try:
            status, answer = self.dispatch(environ["REQUEST_METHOD"], path, query, body)
        except SimulatorError as exc:
            status, answer = exc.status, exc.body
        payload = json.dumps(answer, ensure_ascii=False).encode()
        start_response(f"{status} X", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    def dispatch(self, method: str, path: str, query: dict, body: dict) -> tuple[int, dict]:
        if path == "/_sim/faults":
            return self._set_faults(body)
        if path == "/_sim/state":
            return 200, self.state()
        if path == "/router/rest":
            return self._tmall({**query, **body})
        if path == "/routerjson":
            return self._jd({**query, **body})
        if path.startswith("/order/") or path.startswith("/sku/"):
            return self._douyin(query)
        if path == "/cgi-bin/token":
            return self._wechat_token(query)
        if path.startswith("/channels/ec/"):
            return self._wechat(path, query, body)
        return 404, {"error": "not found"}

    def state(self) -> dict:
        return {
            key: {
                "platform": shop.platform,
                "orders": len(shop.orders),
                "shipments": shop.shipments,
                "stock": shop.stock,
            }
            for key, shop in self.shops.items()
        }

    def _set_faults(self, body: dict) -> tuple[int, dict]:
        platform = body.get("platform", "")
        if platform not in self.faults:
            return 400, {"error": "unknown platform"}
        self.reset_faults(platform)
        faults = self.faults[platform]
        faults.fail_next = int(body.get("fail_next", 0))
        faults.fail_page = body.get("fail_page")
        faults.mode = body.get("mode", "http500")
        faults.delay = float(body.get("delay", 0))
        faults.updates_after_page = body.get("updates_after_page")
        faults.updates = dict(body.get("updates") or {})
        return 200, {"ok": True}

    def _before(self, platform: str, api: str, *, page=None) -> None:
        self.calls.append((platform, api))
        faults = self.faults[platform]
        faults.arrived.set()
        if faults.hold is not None:
            faults.hold.wait(timeout=30)
        if faults.delay:
            time.sleep(faults.delay)
        failing = False
        with self.lock:
            if faults.fail_next > 0:
                faults.fail_next -= 1
                failing = True
        if page is not None and faults.fail_page is not None and int(page) == int(faults.fail_page):
            failing = True
        if not failing:
            return
        if faults.mode == "timeout":
            time.sleep(faults.timeout_seconds)
            return
        if faults.mode == "platform":
            raise SimulatorError(200, BUSY[platform])
        raise SimulatorError(500, {"error": "injected failure"})

    def _after_page(self, platform: str, shop: SimShop, page: int) -> None:
        """Apply the switched-on order updates once page ``page`` of a list was answered."""
        faults = self.faults[platform]
        with self.lock:
            if faults.updates_after_page is None or int(page) != int(faults.updates_after_page):
                return
            updates, faults.updates_after_page, faults.updates = faults.updates, None, {}
            now = datetime.now(tz=SHANGHAI)
            for order_id, fields in updates.items():
                order = shop.orders.get(str(order_id))
                if order is not None:
                    shop.orders[str(order_id)] = with_updated_at(platform, {**order, **fields}, now)

    def _shop(self, platform: str, app_key: str) -> SimShop:
        shop = self.shops.get(app_key)
        if shop is None or shop.platform != platform:
            raise SimulatorError(200, BAD_SIGN[platform])
        return shop

    @staticmethod
    def _check_token(shop: SimShop, token: str | None) -> None:
        if not shop.access_token or token != shop.access_token:
            raise SimulatorError(200, BAD_TOKEN[shop.platform])

    @staticmethod
    def _window(orders, platform, start: datetime, end: datetime) -> list[dict]:
        chosen = [o for o in orders.values() if start <= order_updated_at(platform, o) <= end]
        return sorted(chosen, key=lambda o: (order_updated_at(platform, o), order_id_of(platform, o)))

    # --- Tmall TOP -----------------------------------------------------------------------

    def _tmall(self, params: dict) -> tuple[int, dict]:
        shop = self._shop("tmall", params.get("app_key", ""))
        if params.get("sign") != top_sign(params, shop.secret, params.get("sign_method", "md5")):
            return 200, BAD_SIGN["tmall"]
        self._check_token(shop, params.get("session"))
        api = params.get("method", "")
        if api == "taobao.trades.sold.increment.get":
            page, size = int(params["page_no"]), int(params["page_size"])
            self._before("tmall", api, page=page)
            start = _local(params["start_modified"])
            end = _local(params["end_modified"])
            chosen = self._window(shop.orders, "tmall", start, end)
            rows = chosen[(page - 1) * size : page * size]
            self._after_page("tmall", shop, page)
            return 200, {
                "trades_sold_increment_get_response": {
                    "total_results": len(chosen),
                    "has_next": page * size < len(chosen),
                    "trades": {"trade": rows},
                }
            }
        self._before("tmall", api)
        if api == "taobao.logistics.offline.send":
            shop.shipments.append(
                {"order_id": params["tid"], "carrier": params["company_code"], "tracking_no": params["out_sid"]}
            )
            return 200, {"logistics_offline_send_response": {"shipping": {"is_success": True}}}
        if api == "taobao.item.quantity.update":
            return self._stock(shop, params["sku_id"], int(params["quantity"]), {"item_quantity_update_response": {}})
        return 200, {"error_response": {"code": 22, "msg": "Invalid method"}}

    # --- JD JOS --------------------------------------------------------------------------

    def _jd(self, params: dict) -> tuple[int, dict]:
        shop = self._shop("jd", params.get("app_key", ""))
        if params.get("sign") != top_sign(params, shop.secret):
            return 200, BAD_SIGN["jd"]
        self._check_token(shop, params.get("access_token"))
        api = params.get("method", "")
        args = json.loads(params.get("360buy_param_json") or "{}")
        if api == "jingdong.pop.order.search":
            page, size = int(args["page"]), int(args["page_size"])
            self._before("jd", api, page=page)
            chosen = self._window(shop.orders, "jd", _local(args["start_date"]), _local(args["end_date"]))
            rows = chosen[(page - 1) * size : page * size]
            self._after_page("jd", shop, page)
            return 200, {
                "jingdong_pop_order_search_responce": {
                    "code": "0",
                    "searchorderinfo_result": {
                        "apiResult": {"success": True},
                        "orderTotal": len(chosen),
                        "orderInfoList": rows,
                    },
                }
            }
        if api == "jingdong.pop.afs.soa.refundapply.queryPageList":
            page, size = int(args["pageIndex"]), int(args["pageSize"])
            self._before("jd", api)
            start, end = _local(args["applyTimeStart"]), _local(args["applyTimeEnd"])
            chosen = sorted(
                (a for a in shop.refund_applies.values() if start <= _local(a["applyTime"]) <= end),
                key=lambda a: (a["applyTime"], a["id"]),
            )
            return 200, {
                "jingdong_pop_afs_soa_refundapply_queryPageList_responce": {
                    "code": "0",
                    "queryResult": {
                        "success": True,
                        "totalCount": len(chosen),
                        "result": chosen[(page - 1) * size : page * size],
                    },
                }
            }
        self._before("jd", api)
        if api == "jingdong.pop.order.get":
            order = shop.orders.get(str(args.get("order_id")))
            if order is None:
                return 200, {"error_response": {"code": "10100016", "en_desc": "Order not found"}}
            return 200, {
                "jingdong_pop_order_get_responce": {
                    "code": "0",
                    "orderDetailInfo": {"apiResult": {"success": True}, "orderInfo": order},
                }
            }
        if api == "jingdong.pop.order.shipment":
            shop.shipments.append(
                {"order_id": args["orderId"], "carrier": args["logiCoprId"], "tracking_no": args["logiNo"]}
            )
            return 200, {
                "jingdong_pop_order_shipment_responce": {"code": "0", "sopjosshipment_result": {"success": True}}
            }
        if api == "jingdong.stock.write.updateSkuStock":
            return self._stock(
                shop,
                str(args["skuId"]),
                int(args["stockNum"]),
                {"jingdong_stock_write_updateSkuStock_responce": {"code": "0", "success": True}},
            )
        return 200, {"error_response": {"code": "3", "en_desc": "Invalid method"}}

    # --- Douyin --------------------------------------------------------------------------

    def _douyin(self, query: dict) -> tuple[int, dict]:
        shop = self._shop("douyin", query.get("app_key", ""))
        expected = douyin_sign(
            app_key=query.get("app_key", ""),
            method=query.get("method", ""),
            param_json=query.get("param_json", ""),
            timestamp=query.get("timestamp", ""),
            v=query.get("v", ""),
            secret=shop.secret,
        )
        if query.get("sign") != expected:
            return 200, BAD_SIGN["douyin"]
        self._check_token(shop, query.get("access_token"))
        api = query.get("method", "")
        args = json.loads(query.get("param_json") or "{}")
        if api == "order.searchList":
            page, size = int(args["page"]), int(args["size"])
            self._before("douyin", api, page=page + 1)
            start = datetime.fromtimestamp(int(args["update_time_start"]), tz=SHANGHAI)
            end = datetime.fromtimestamp(int(args["update_time_end"]), tz=SHANGHAI)
            chosen = self._window(shop.orders, "douyin", start, end)
            rows = chosen[page * size : (page + 1) * size]
            self._after_page("douyin", shop, page + 1)
            return 200, {
                "code": 10000,
                "msg": "success",
                "data": {"shop_order_list": rows, "page": page, "size": size, "total": len(chosen)},
            }
        self._before("douyin", api)
        if api == "order.logisticsAdd":
            shop.shipments.append(
                {"order_id": args["order_id"], "carrier": args["company_code"], "tracking_no": args["logistics_code"]}
            )
            return 200, {"code": 10000, "msg": "success", "data": {}}
        if api == "sku.syncStock":
            return self._stock(
                shop, str(args["sku_id"]), int(args["stock_num"]), {"code": 10000, "msg": "success", "data": {}}
            )
        return 200, {"code": 30001, "msg": "invalid method"}

    # --- WeChat --------------------------------------------------------------------------

    def _wechat_token(self, query: dict) -> tuple[int, dict]:
        shop = self.shops.get(query.get("appid", ""))
        if shop is None or shop.platform != "wechat" or shop.secret != query.get("secret"):
            return 200, {"errcode": 40125, "errmsg": "invalid appsecret"}
        token = secrets.token_hex(16)
        self.tokens[token] = shop.app_key
        return 200, {"access_token": token, "expires_in": 7200}

    def _wechat(self, path: str, query: dict, body: dict) -> tuple[int, dict]:
        app_key = self.tokens.get(query.get("access_token", ""))
        if app_key is None:
            return 200, BAD_TOKEN["wechat"]
        shop = self.shops[app_key]
        if path == "/channels/ec/order/list/get":
            # next_key is opaque to callers: here "<pages served>|<update time>|<order id>" of
            # the last order served, and the next page starts after that order (a keyset
            # cursor: orders leaving the window meanwhile cannot shift later pages).
            served, _sep, after = str(body.get("next_key") or "0").partition("|")
            page = int(served) + 1
            size = int(body.get("page_size", 50))
            self._before("wechat", path, page=page)
            rng = body.get("update_time_range") or {}
            start = datetime.fromtimestamp(int(rng["start_time"]), tz=SHANGHAI)
            end = datetime.fromtimestamp(int(rng["end_time"]), tz=SHANGHAI)
            chosen = self._window(shop.orders, "wechat", start, end)
            if after:
                after_time, _sep, after_id = after.partition("|")
                key = (int(after_time), after_id)
                chosen = [o for o in chosen if (o["update_time"], str(o["order_id"])) > key]
            rows = chosen[:size]
            next_key = f"{page}|{rows[-1]['update_time']}|{rows[-1]['order_id']}" if rows else body.get("next_key", "")
            self._after_page("wechat", shop, page)
            return 200, {
                "errcode": 0,
                "errmsg": "ok",
                "order_id_list": [o["order_id"] for o in rows],
                "next_key": next_key,
                "has_more": len(chosen) > size,
            }
        self._before("wechat", path)
        if path == "/channels/ec/order/get":
            order = shop.orders.get(str(body.get("order_id")))
            if order is None:
                return 200, {"errcode": 100002, "errmsg": "order not found"}
            return 200, {"errcode": 0, "errmsg": "ok", "order": order}
        if path == "/channels/ec/order/delivery/send":
            delivery = body["delivery_list"][0]
            shop.shipments.append(
                {
                    "order_id": body["order_id"],
                    "carrier": delivery["delivery_id"],
                    "tracking_no": delivery["waybill_id"],
                }
            )
            return 200, {"errcode": 0, "errmsg": "ok"}
        if path == "/channels/ec/product/stock/update":
            return self._stock(shop, str(body["sku_id"]), int(body["num"]), {"errcode": 0, "errmsg": "ok"})
        return 404, {"errcode": 404, "errmsg": "not found"}

    def _stock(self, shop: SimShop, sku_id: str, quantity: int, answer: dict) -> tuple[int, dict]:
        with self.lock:
            shop.stock[sku_id] = quantity
            shop.stock_updates.append({"sku_id": sku_id, "quantity": quantity})
        return 200, answer


def _local(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


def serve(simulator: PlatformSimulator, *, host: str = "127.0.0.1", port: int = 0):
    """Start serving in a daemon thread; returns (server, base_url). Stop with server.shutdown()."""
    server = make_server(host, port, simulator, server_class=_ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, f"http://{host}:{server.server_address[1]}"
