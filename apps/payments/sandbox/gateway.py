"""A sandbox payment gateway speaking WeChat Pay v3 and Alipay, for the demo and the tests.

Standalone (no Django): a WSGI app keeping trades and refunds in memory and, when given a
``state_file``, in that JSON file too, so a restarted sandbox still knows what was paid. It checks the
merchant's request signatures exactly as the real gateways do, signs its answers with the
"platform" keys, and sends signed callbacks (WeChat: AES-GCM encrypted resource and
``Wechatpay-*`` headers; Alipay: RSA2-signed form post) to the notify URL it was given.

Buyer actions: ``GET/POST /sandbox/pay/<out_trade_no>`` pays (``?amount=`` pays another
amount, to exercise mismatch handling); with ``autopay_seconds`` every new trade is paid that
long after it was created. Trouble on demand (``fail_next``, ``lose_refunds`` or
``POST /sandbox/trouble?fail=<n>&status=<429|5xx>&lose_refunds=<n>``): the next n WeChat Pay
requests answer that HTTP status (429 FREQUENCY_LIMITED, 5xx SYSTEM_ERROR); the next n Alipay
refund requests are "lost": answered, but never recorded, so the refund query knows nothing
of them; ``refuse_refunds`` answers the next n refund requests (either provider) with a
business refusal code (WeChat NOT_ENOUGH, Alipay ACQ.SYSTEM_ERROR...). Daily statements: ``/v3/bill/tradebill`` (WeChat) and
``alipay.data.dataservice.bill.downloadurl.query`` (Alipay), CSV in each provider's format.
"""

import json
import logging
import re
import secrets
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlencode
from zoneinfo import ZoneInfo

import requests

from apps.payments.providers import crypto
from apps.payments.providers.alipay import signing_content

logger = logging.getLogger("payments.sandbox")
SHANGHAI = ZoneInfo("Asia/Shanghai")
_AUTH = re.compile(r'(\w+)="([^"]*)"')
# The sandbox's trades and refunds, kept beside its keys by the demo.
STATE_FILE = "sandbox-state.json"


@dataclass
class SandboxConfig:
    keys_dir: Path
    public_url: str = "http://127.0.0.1:8001"
    wechat_mchid: str = "1900000001"
    wechat_appid: str = "wxsandbox000001"
    wechat_merchant_serial: str = "SANDBOXMERCHANTSERIAL01"
    wechat_platform_serial: str = "SANDBOXPLATFORMSERIAL01"
    wechat_apiv3_key: str = "sandboxapiv3key00000000000000000"
    alipay_app_id: str = "2021000000000001"
    alipay_seller_id: str = "2088000000000001"
    autopay_seconds: float = 0.0
    send_notifications: bool = True
    state_file: Path | None = None


@dataclass
class Trade:
    provider: str
    out_trade_no: str
    amount: Decimal
    description: str
    notify_url: str
    transaction_id: str
    status: str = "NOTPAY"  # NOTPAY, SUCCESS, CLOSED
    time_expire: str = ""  # as the merchant sent it (WeChat RFC 3339, Alipay yyyy-MM-dd HH:mm:ss)
    paid_amount: Decimal | None = None
    paid_at: datetime | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(SHANGHAI))


@dataclass
class SandboxRefund:
    reference: str
    out_trade_no: str
    amount: Decimal
    refund_id: str
    status: str = "SUCCESS"
    succeeded_at: datetime = field(default_factory=lambda: datetime.now(SHANGHAI))


def _now() -> datetime:
    return datetime.now(SHANGHAI).replace(microsecond=0)


def _fen(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def _to_json(record) -> dict:
    return {
        key: (str(value) if isinstance(value, Decimal) else value.isoformat() if isinstance(value, datetime) else value)
        for key, value in asdict(record).items()
    }


def _trade_from_json(data: dict) -> Trade:
    return Trade(
        **{
            **data,
            "amount": Decimal(data["amount"]),
            "paid_amount": None if data["paid_amount"] is None else Decimal(data["paid_amount"]),
            "paid_at": None if data["paid_at"] is None else datetime.fromisoformat(data["paid_at"]),
            "created_at": datetime.fromisoformat(data["created_at"]),
        }
    )


def _refund_from_json(data: dict) -> SandboxRefund:
    return SandboxRefund(
        **{**data, "amount": Decimal(data["amount"]), "succeeded_at": datetime.fromisoformat(data["succeeded_at"])}
    )


def load_state(state_file: Path) -> tuple[dict[str, Trade], dict[str, SandboxRefund]]:
    if not state_file.exists():
        return {}, {}
    data = json.loads(state_file.read_text())
    trades = {key: _trade_from_json(value) for key, value in data.get("trades", {}).items()}
    refunds = {key: _refund_from_json(value) for key, value in data.get("refunds", {}).items()}
    return trades, refunds


def save_state(state_file: Path, trades: dict[str, Trade], refunds: dict[str, SandboxRefund]) -> None:
    data = {
        "trades": {key: _to_json(value) for key, value in trades.items()},
        "refunds": {key: _to_json(value) for key, value in refunds.items()},
    }
    state_file.parent.mkdir(parents=True, exist_ok=True)
    partial = state_file.with_suffix(".tmp")
    partial.write_text(json.dumps(data, ensure_ascii=False))
    partial.replace(state_file)


def record_paid_trade(
    state_file: Path, *, provider: str, out_trade_no: str, amount: Decimal, transaction_id: str
) -> None:
    """Tell a (stopped) sandbox about a trade paid outside it: the demo seed pays its orders
    directly, and their refunds must later succeed at the sandbox like any other."""
    trades, refunds = load_state(state_file)
    now = _now()
    trades[out_trade_no] = Trade(
        provider=provider,
        out_trade_no=out_trade_no,
        amount=amount,
        description="",
        notify_url="",
        transaction_id=transaction_id,
        status="SUCCESS",
        paid_amount=amount,
        paid_at=now,
    )
    save_state(state_file, trades, refunds)


class SandboxGateway:
    """The gateway's state and behaviour; ``wsgi`` is the HTTP face of it."""

    def __init__(self, config: SandboxConfig):
        self.config = config
        keys = Path(config.keys_dir)
        self.merchant_public = crypto.load_public_key(str(keys / "wechat_merchant_public.pem"))
        self.platform_private = crypto.load_private_key(str(keys / "wechat_platform_private.pem"))
        self.alipay_app_public = crypto.load_public_key(str(keys / "alipay_app_public.pem"))
        self.alipay_private = crypto.load_private_key(str(keys / "alipay_private.pem"))
        self.trades: dict[str, Trade] = {}
        self.refunds: dict[str, SandboxRefund] = {}
        if config.state_file is not None:
            self.trades, self.refunds = load_state(config.state_file)
        self.lock = threading.RLock()
        self.failures: list[int] = []  # HTTP statuses the next WeChat Pay requests answer with
        self.refunds_to_lose = 0
        self.refund_refusals: list[tuple[str, int]] = []  # (code, WeChat HTTP status) for the next refunds
        self.refund_answers_to_lose = 0

    def fail_next(self, count: int, *, status: int = 429) -> None:
        """The next ``count`` WeChat Pay requests answer HTTP ``status`` (rate limited, or a 5xx)."""
        with self.lock:
            self.failures = [status] * count

    def lose_refunds(self, count: int) -> None:
        """The next ``count`` Alipay refund requests are answered but never recorded (lost)."""
        with self.lock:
            self.refunds_to_lose = count

    def refuse_refunds(self, count: int, *, code: str, status: int = 403) -> None:
        """The next ``count`` refund requests are refused with ``code`` (WeChat: HTTP ``status``;
        Alipay: ``40004`` with ``code`` as sub_code) and not recorded."""
        with self.lock:
            self.refund_refusals = [(code, status)] * count

    def lose_refund_answers(self, count: int) -> None:
        """The next ``count`` WeChat Pay refund calls (requests or queries) are carried out, but
        their answers are lost on the way back: the merchant sees HTTP 504."""
        with self.lock:
            self.refund_answers_to_lose = count

    def refund_notification(self, reference: str) -> tuple[dict, bytes]:
        """The signed WeChat Pay REFUND.SUCCESS notification of a refund the gateway carried out."""
        with self.lock:
            refund = self.refunds[reference]
            resource = self._wechat_refund_body(refund, self.trades[refund.out_trade_no])
        return self._wechat_envelope("REFUND.SUCCESS", "refund", resource, "退款成功")

    def _refusal(self) -> tuple[str, int] | None:
        return self.refund_refusals.pop(0) if self.refund_refusals else None

    def _save(self) -> None:
        if self.config.state_file is not None:
            with self.lock:
                save_state(self.config.state_file, self.trades, self.refunds)

    # --- buyer side and test helpers -----------------------------------------------------

    def pay(
        self, out_trade_no: str, *, amount: Decimal | None = None, notify: bool | None = None
    ) -> tuple[dict, bytes]:
        """The buyer pays; returns the signed notification (headers, body) and sends it if asked."""
        with self.lock:
            trade = self.trades[out_trade_no]
            if trade.status == "NOTPAY":
                trade.status = "SUCCESS"
                trade.paid_amount = trade.amount if amount is None else Decimal(amount)
                trade.paid_at = _now()
        self._save()
        headers, body = self.notification(out_trade_no)
        if self.config.send_notifications if notify is None else notify:
            self.send(trade.notify_url, headers, body)
        return headers, body

    def notification(self, out_trade_no: str, *, trade_status: str | None = None) -> tuple[dict, bytes]:
        trade = self.trades[out_trade_no]
        if trade.provider == "wechat":
            return self._wechat_transaction_notification(trade)
        return self._alipay_notification(trade, trade_status=trade_status or "TRADE_SUCCESS")

    def send(self, url: str, headers: dict, body: bytes) -> int | None:
        if not url:
            return None
        try:
            response = requests.post(url, data=body, headers=headers, timeout=5)
        except requests.RequestException as exc:
            logger.warning("notification to %s failed: %s", url, exc)
            return None
        logger.info("notified %s: HTTP %s %s", url, response.status_code, response.text[:100])
        return response.status_code

    def _schedule_autopay(self, out_trade_no: str) -> None:
        if self.config.autopay_seconds > 0:
            timer = threading.Timer(self.config.autopay_seconds, self.pay, args=(out_trade_no,))
            timer.daemon = True
            timer.start()

    # --- WeChat Pay v3 -------------------------------------------------------------------

    def wechat_sign_headers(self, body: bytes) -> dict:
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        message = f"{timestamp}\n{nonce}\n{body.decode()}\n".encode()
        return {
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": crypto.rsa_sign(self.platform_private, message),
            "Wechatpay-Serial": self.config.wechat_platform_serial,
            "Content-Type": "application/json",
        }

    def _wechat_transaction(self, trade: Trade) -> dict:
        data = {
            "appid": self.config.wechat_appid,
            "mchid": self.config.wechat_mchid,
            "out_trade_no": trade.out_trade_no,
            "transaction_id": trade.transaction_id,
            "trade_type": "NATIVE",
            "trade_state": trade.status,
            "trade_state_desc": {"SUCCESS": "支付成功", "NOTPAY": "未支付", "CLOSED": "已关闭"}[trade.status],
            "amount": {"total": _fen(trade.amount), "currency": "CNY"},
        }
        if trade.status == "SUCCESS":
            data["success_time"] = trade.paid_at.isoformat()
            data["amount"] = {
                "total": _fen(trade.paid_amount),
                "payer_total": _fen(trade.paid_amount),
                "currency": "CNY",
            }
            data["payer"] = {"openid": "oSandboxBuyer"}
        return data

    def _wechat_envelope(self, event_type: str, original_type: str, resource: dict, summary: str) -> tuple[dict, bytes]:
        nonce = secrets.token_hex(6)
        ciphertext = crypto.aes_gcm_encrypt(
            self.config.wechat_apiv3_key,
            nonce=nonce,
            associated_data=original_type,
            plaintext=json.dumps(resource, ensure_ascii=False).encode(),
        )
        body = json.dumps(
            {
                "id": str(uuid.uuid4()),
                "create_time": _now().isoformat(),
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": summary,
                "resource": {
                    "original_type": original_type,
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": ciphertext,
                    "associated_data": original_type,
                    "nonce": nonce,
                },
            },
            ensure_ascii=False,
        ).encode()
        return self.wechat_sign_headers(body), body

    def _wechat_transaction_notification(self, trade: Trade) -> tuple[dict, bytes]:
        return self._wechat_envelope("TRANSACTION.SUCCESS", "transaction", self._wechat_transaction(trade), "支付成功")

    def _wechat_refund_body(self, refund: SandboxRefund, trade: Trade) -> dict:
        return {
            "refund_id": refund.refund_id,
            "out_refund_no": refund.reference,
            "transaction_id": trade.transaction_id,
            "out_trade_no": trade.out_trade_no,
            "status": refund.status,
            "success_time": refund.succeeded_at.isoformat(),
            "amount": {"refund": _fen(refund.amount), "total": _fen(trade.amount), "currency": "CNY"},
        }

    def _wechat_verify_request(self, environ: dict, body: bytes) -> str | None:
        """None when the merchant's Authorization checks out, else the reason."""
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("WECHATPAY2-SHA256-RSA2048 "):
            return "missing WECHATPAY2-SHA256-RSA2048 authorization"
        fields = dict(_AUTH.findall(header))
        if fields.get("mchid") != self.config.wechat_mchid:
            return "mchid mismatch"
        if fields.get("serial_no") != self.config.wechat_merchant_serial:
            return "unknown merchant certificate serial"
        try:
            if abs(time.time() - int(fields.get("timestamp", "0"))) > 300:
                return "stale timestamp"
        except ValueError:
            return "bad timestamp"
        query = environ.get("QUERY_STRING", "")
        url = environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
        message = f"{environ['REQUEST_METHOD']}\n{url}\n{fields.get('timestamp')}\n{fields.get('nonce_str')}\n{body.decode()}\n"
        if not crypto.rsa_verify(self.merchant_public, message.encode(), fields.get("signature", "")):
            return "signature mismatch"
        return None

    def wechat(self, environ: dict, method: str, path: str, body: bytes) -> tuple[int, dict | None]:
        with self.lock:
            status = self.failures.pop(0) if self.failures else None
        if status == 429:
            return 429, {"code": "FREQUENCY_LIMITED", "message": "频率超限"}
        if status is not None:
            return status, {"code": "SYSTEM_ERROR", "message": "系统错误"}
        refusal = self._wechat_verify_request(environ, body)
        if refusal:
            return 401, {"code": "SIGN_ERROR", "message": refusal}
        data = json.loads(body) if body else {}
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        with self.lock:
            if method == "POST" and path == "/v3/pay/transactions/native":
                return self._wechat_create(data)
            match = re.fullmatch(r"/v3/pay/transactions/out-trade-no/([\w-]+)(/close)?", path)
            if match:
                trade = self.trades.get(match.group(1))
                if trade is None or trade.provider != "wechat":
                    return 404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}
                if match.group(2) and method == "POST":
                    if trade.status == "SUCCESS":
                        return 400, {"code": "ORDERPAID", "message": "订单已支付"}
                    trade.status = "CLOSED"
                    return 204, None
                return 200, self._wechat_transaction(trade)
            if method == "POST" and path == "/v3/refund/domestic/refunds":
                refusal = self._refusal()
                if refusal is not None:
                    return refusal[1], {"code": refusal[0], "message": "退款被拒绝"}
                return self._refund_answer(self._wechat_refund(data))
            match = re.fullmatch(r"/v3/refund/domestic/refunds/([\w:#-]+)", path)
            if match and method == "GET":
                refund = self.refunds.get(match.group(1))
                if refund is None:
                    return self._refund_answer((404, {"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"}))
                return self._refund_answer((200, self._wechat_refund_body(refund, self.trades[refund.out_trade_no])))
            if method == "GET" and path == "/v3/bill/tradebill":
                url = f"{self.config.public_url}/v3/billdownload/file?{urlencode({'bill_date': query.get('bill_date', '')})}"
                return 200, {"hash_type": "SHA1", "hash_value": "", "download_url": url}
        return 404, {"code": "NOT_FOUND", "message": f"no such endpoint {method} {path}"}

    def _refund_answer(self, answer: tuple[int, dict]) -> tuple[int, dict]:
        """What the merchant receives of a refund call already carried out (lose_refund_answers)."""
        if self.refund_answers_to_lose > 0:
            self.refund_answers_to_lose -= 1
            return 504, {"code": "SYSTEM_ERROR", "message": "网关超时"}
        return answer

    def _wechat_create(self, data: dict) -> tuple[int, dict]:
        if data.get("appid") != self.config.wechat_appid or data.get("mchid") != self.config.wechat_mchid:
            return 400, {"code": "APPID_MCHID_NOT_MATCH", "message": "appid和mch_id不匹配"}
        out_trade_no = data["out_trade_no"]
        amount = Decimal(data["amount"]["total"]) / 100
        existing = self.trades.get(out_trade_no)
        if existing is not None:
            if existing.status == "SUCCESS":
                return 400, {"code": "ORDERPAID", "message": "该订单已支付"}
            if existing.amount != amount:
                return 400, {"code": "INVALID_REQUEST", "message": "201 商户订单号重复"}
        else:
            self.trades[out_trade_no] = Trade(
                provider="wechat",
                out_trade_no=out_trade_no,
                amount=amount,
                description=data.get("description", ""),
                notify_url=data.get("notify_url", ""),
                transaction_id="4200" + secrets.token_hex(12)[:24],
                time_expire=data.get("time_expire", ""),
            )
            self._schedule_autopay(out_trade_no)
        return 200, {"code_url": f"{self.config.public_url}/sandbox/pay/{out_trade_no}"}

    def _refund_check(self, out_trade_no: str, reference: str, amount: Decimal) -> tuple[Trade | None, str]:
        trade = self.trades.get(out_trade_no)
        if trade is None or trade.status != "SUCCESS":
            return None, "trade not paid"
        refunded = sum((r.amount for r in self.refunds.values() if r.out_trade_no == out_trade_no), Decimal(0))
        if refunded + amount > trade.paid_amount:
            return None, "refund exceeds the paid amount"
        return trade, ""

    def _wechat_refund(self, data: dict) -> tuple[int, dict]:
        reference = data["out_refund_no"]
        existing = self.refunds.get(reference)
        if existing is None:
            amount = Decimal(data["amount"]["refund"]) / 100
            trade, error = self._refund_check(data.get("out_trade_no", ""), reference, amount)
            if trade is None:
                return 400, {"code": "INVALID_REQUEST", "message": error}
            existing = self.refunds[reference] = SandboxRefund(
                reference=reference,
                out_trade_no=trade.out_trade_no,
                amount=amount,
                refund_id="5030" + secrets.token_hex(10),
            )
            if self.config.send_notifications and data.get("notify_url"):
                headers, body = self._wechat_envelope(
                    "REFUND.SUCCESS", "refund", self._wechat_refund_body(existing, trade), "退款成功"
                )
                threading.Thread(target=self.send, args=(data["notify_url"], headers, body), daemon=True).start()
        answer = self._wechat_refund_body(existing, self.trades[existing.out_trade_no])
        answer["status"] = "PROCESSING"  # WeChat answers the refund call itself with PROCESSING
        return 200, answer

    # --- Alipay --------------------------------------------------------------------------

    def alipay_response(self, method: str, node: dict) -> bytes:
        key = method.replace(".", "_") + "_response"
        node_text = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
        sign = crypto.rsa_sign(self.alipay_private, node_text.encode())
        return f'{{"{key}":{node_text},"sign":"{sign}"}}'.encode()

    def _alipay_notification(self, trade: Trade, *, trade_status: str) -> tuple[dict, bytes]:
        params = {
            "notify_time": _now().strftime("%Y-%m-%d %H:%M:%S"),
            "notify_type": "trade_status_sync",
            "notify_id": uuid.uuid4().hex,
            "charset": "utf-8",
            "version": "1.0",
            "app_id": self.config.alipay_app_id,
            "seller_id": self.config.alipay_seller_id,
            "trade_no": trade.transaction_id,
            "out_trade_no": trade.out_trade_no,
            "trade_status": trade_status,
            "total_amount": str(trade.paid_amount or trade.amount),
            "receipt_amount": str(trade.paid_amount or trade.amount),
            "subject": trade.description,
            "gmt_create": trade.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        }
        if trade.paid_at:
            params["gmt_payment"] = trade.paid_at.strftime("%Y-%m-%d %H:%M:%S")
        params["sign"] = crypto.rsa_sign(self.alipay_private, signing_content(params))
        params["sign_type"] = "RSA2"
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        return headers, urlencode(params).encode()

    def alipay(self, body: bytes) -> bytes:
        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
        method = params.get("method", "")
        if params.get("app_id") != self.config.alipay_app_id:
            return self.alipay_response(
                method, {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-app-id"}
            )
        if not crypto.rsa_verify(self.alipay_app_public, signing_content(params), params.get("sign", "")):
            return self.alipay_response(
                method, {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature"}
            )
        biz = json.loads(params.get("biz_content") or "{}")
        with self.lock:
            node = self._alipay_dispatch(method, biz, params)
        return self.alipay_response(method, node)

    def _alipay_dispatch(self, method: str, biz: dict, params: dict) -> dict:
        ok = {"code": "10000", "msg": "Success"}

        def refused(sub_code: str, sub_msg: str) -> dict:
            return {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}

        out_trade_no = biz.get("out_trade_no", "")
        trade = self.trades.get(out_trade_no)
        if method == "alipay.trade.precreate":
            if trade is None:
                trade = self.trades[out_trade_no] = Trade(
                    provider="alipay",
                    out_trade_no=out_trade_no,
                    amount=Decimal(biz["total_amount"]),
                    description=biz.get("subject", ""),
                    notify_url=params.get("notify_url", ""),
                    transaction_id=_now().strftime("%Y%m%d") + "2200" + secrets.token_hex(8),
                    time_expire=biz.get("time_expire", ""),
                )
                self._schedule_autopay(out_trade_no)
            elif trade.status == "SUCCESS":
                return refused("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
            return {
                **ok,
                "out_trade_no": out_trade_no,
                "qr_code": f"{self.config.public_url}/sandbox/pay/{out_trade_no}",
            }
        if method == "alipay.data.dataservice.bill.downloadurl.query":
            url = f"{self.config.public_url}/alipay/bill?{urlencode({'bill_date': biz.get('bill_date', '')})}"
            return {**ok, "bill_download_url": url}
        if trade is None or trade.provider != "alipay":
            return refused("ACQ.TRADE_NOT_EXIST", "交易不存在")
        if method == "alipay.trade.query":
            status = {"NOTPAY": "WAIT_BUYER_PAY", "SUCCESS": "TRADE_SUCCESS", "CLOSED": "TRADE_CLOSED"}[trade.status]
            node = {**ok, "out_trade_no": out_trade_no, "trade_no": trade.transaction_id, "trade_status": status}
            node["total_amount"] = str(trade.paid_amount or trade.amount)
            if trade.paid_at:
                node["send_pay_date"] = trade.paid_at.strftime("%Y-%m-%d %H:%M:%S")
            return node
        if method == "alipay.trade.close":
            if trade.status == "SUCCESS":
                return refused("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            trade.status = "CLOSED"
            return {**ok, "out_trade_no": out_trade_no}
        if method == "alipay.trade.refund":
            refusal = self._refusal()
            if refusal is not None:
                return refused(refusal[0], "退款被拒绝")
            reference = biz.get("out_request_no") or out_trade_no
            if reference not in self.refunds and self.refunds_to_lose > 0:
                self.refunds_to_lose -= 1  # lost: answered, never recorded
                return {**ok, "out_trade_no": out_trade_no, "trade_no": trade.transaction_id, "fund_change": "N"}
            if reference in self.refunds:
                return {**ok, "out_trade_no": out_trade_no, "trade_no": trade.transaction_id, "fund_change": "N"}
            amount = Decimal(biz["refund_amount"])
            checked, error = self._refund_check(out_trade_no, reference, amount)
            if checked is None:
                return refused("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", error)
            self.refunds[reference] = SandboxRefund(
                reference=reference, out_trade_no=out_trade_no, amount=amount, refund_id=trade.transaction_id
            )
            return {**ok, "out_trade_no": out_trade_no, "trade_no": trade.transaction_id, "fund_change": "Y"}
        if method == "alipay.trade.fastpay.refund.query":
            refund = self.refunds.get(biz.get("out_request_no", ""))
            if refund is None:
                return {**ok, "out_trade_no": out_trade_no}
            return {
                **ok,
                "out_trade_no": out_trade_no,
                "out_request_no": refund.reference,
                "refund_amount": str(refund.amount),
                "refund_status": "REFUND_SUCCESS",
            }
        return {"code": "40004", "msg": "Business Failed", "sub_code": "isv.invalid-method", "sub_msg": method}

    # --- statements ----------------------------------------------------------------------

    def _day(self, bill_date: date):
        trades = [t for t in self.trades.values() if t.paid_at and t.paid_at.date() == bill_date]
        refunds = [r for r in self.refunds.values() if r.succeeded_at.date() == bill_date]
        return trades, refunds

    def wechat_bill(self, bill_date: date) -> bytes:
        header = (
            "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
            "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,"
            "商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
        )
        lines = [header]
        trades, refunds = self._day(bill_date)
        cfg = self.config

        def row(values: list) -> str:
            return ",".join(f"`{v}" for v in values)

        for t in trades:
            if t.provider != "wechat":
                continue
            amt = f"{t.paid_amount:.2f}"
            lines.append(row([t.paid_at.strftime("%Y-%m-%d %H:%M:%S"), cfg.wechat_appid, cfg.wechat_mchid, "0", "",
                              t.transaction_id, t.out_trade_no, "oSandboxBuyer", "NATIVE", "SUCCESS", "OTHERS", "CNY",
                              amt, "0.00", "0", "0", "0.00", "0.00", "", "", t.description, "", "0.00", "0.60%", amt,
                              "0.00", ""]))  # fmt: skip
        for r in refunds:
            t = self.trades[r.out_trade_no]
            if t.provider != "wechat":
                continue
            amt = f"{r.amount:.2f}"
            lines.append(row([r.succeeded_at.strftime("%Y-%m-%d %H:%M:%S"), cfg.wechat_appid, cfg.wechat_mchid, "0", "",
                              t.transaction_id, t.out_trade_no, "oSandboxBuyer", "NATIVE", "REFUND", "OTHERS", "CNY",
                              "0.00", "0.00", r.refund_id, r.reference, amt, "0.00", "ORIGINAL", "SUCCESS",
                              t.description, "", "0.00", "0.60%", "0.00", amt, ""]))  # fmt: skip
        lines.append("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额")
        lines.append(row([len(lines) - 2, "0.00", "0.00", "0.00", "0.00", "0.00", "0.00"]))
        return ("\n".join(lines) + "\n").encode("utf-8")

    def alipay_bill(self, bill_date: date) -> bytes:
        header = (
            "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
            "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
            "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"
        )
        lines = [
            "#支付宝业务明细查询",
            f"#账号：[{self.config.alipay_seller_id}0156]",
            f"#起始日期：[{bill_date:%Y年%m月%d日} 00:00:00]   终止日期：[{bill_date:%Y年%m月%d日} 23:59:59]",
            "#-----------------------------------------业务明细列表----------------------------------------",
            header,
        ]
        trades, refunds = self._day(bill_date)
        fmt = "%Y-%m-%d %H:%M:%S"
        for t in trades:
            if t.provider == "alipay":
                amt = f"{t.paid_amount:.2f}"
                lines.append(",".join([t.transaction_id + "\t", t.out_trade_no + "\t", "交易", t.description,
                                       t.created_at.strftime(fmt), t.paid_at.strftime(fmt), "", "", "", "", "buyer@sandbox",
                                       amt, amt, "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00", "", "0.00",
                                       "0.00", ""]))  # fmt: skip
        for r in refunds:
            t = self.trades[r.out_trade_no]
            if t.provider == "alipay":
                amt = f"-{r.amount:.2f}"
                lines.append(",".join([t.transaction_id + "\t", t.out_trade_no + "\t", "退款", t.description,
                                       t.created_at.strftime(fmt), r.succeeded_at.strftime(fmt), "", "", "", "", "buyer@sandbox",
                                       amt, amt, "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00",
                                       r.reference + "\t", "0.00", "0.00", ""]))  # fmt: skip
        lines += [
            "#-----------------------------------------业务明细列表结束------------------------------------",
            f"#导出时间：[{_now():%Y年%m月%d日 %H:%M:%S}]",
        ]
        return ("\n".join(lines) + "\n").encode("utf-8")

    # --- WSGI ----------------------------------------------------------------------------

    def wsgi(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        try:
            status, headers, payload = self._route(environ, method, path, body, query)
        except (KeyError, ValueError, ArithmeticError) as exc:
            status, headers, payload = (
                400,
                {"Content-Type": "application/json"},
                json.dumps({"code": "PARAM_ERROR", "message": str(exc)}).encode(),
            )
        if method == "POST":
            self._save()
        start_response(f"{status} {'OK' if status < 400 else 'ERROR'}", list(headers.items()))
        return [payload]

    def _route(self, environ, method, path, body, query):
        if path.startswith("/v3/billdownload/file"):
            refusal = self._wechat_verify_request(environ, body)
            if refusal:
                return (
                    401,
                    {"Content-Type": "application/json"},
                    json.dumps({"code": "SIGN_ERROR", "message": refusal}).encode(),
                )
            return (
                200,
                {"Content-Type": "text/csv; charset=utf-8"},
                self.wechat_bill(date.fromisoformat(query["bill_date"])),
            )
        if path.startswith("/v3/"):
            status, data = self.wechat(environ, method, path, body)
            payload = json.dumps(data, ensure_ascii=False).encode() if data is not None else b""
            return status, self.wechat_sign_headers(payload), payload
        if path == "/alipay/gateway.do" and method == "POST":
            return 200, {"Content-Type": "application/json; charset=utf-8"}, self.alipay(body)
        if path == "/alipay/bill":
            return (
                200,
                {"Content-Type": "text/csv; charset=utf-8"},
                self.alipay_bill(date.fromisoformat(query["bill_date"])),
            )
        if path == "/sandbox/trouble" and method == "POST":
            self.fail_next(int(query.get("fail", 0)), status=int(query.get("status", 429)))
            self.lose_refunds(int(query.get("lose_refunds", 0)))
            return 200, {"Content-Type": "application/json"}, b'{"code":"OK"}'
        match = re.fullmatch(r"/sandbox/pay/([\w-]+)", path)
        if match and match.group(1) in self.trades:
            amount = Decimal(query["amount"]) if "amount" in query else None
            self.pay(match.group(1), amount=amount)
            trade = self.trades[match.group(1)]
            page = (
                f"<html><body><h1>Sandbox: {trade.out_trade_no} {trade.status} {trade.paid_amount}</h1></body></html>"
            )
            return 200, {"Content-Type": "text/html; charset=utf-8"}, page.encode()
        return 404, {"Content-Type": "application/json"}, b'{"code":"NOT_FOUND","message":"not found"}'
