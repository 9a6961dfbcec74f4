"""WeChat Pay API v3 (Native payments: the buyer scans ``code_url``).

Requests carry ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid=..,nonce_str=..,timestamp=..,
serial_no=..,signature=..`` where the signature is SHA256withRSA with the merchant private key
over ``METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n``. Responses and callbacks are verified with
``Wechatpay-Signature`` over ``TIMESTAMP\\nNONCE\\nBODY\\n`` using the platform key picked by
``Wechatpay-Serial``; a timestamp more than five minutes off is refused. Callback resources
are AEAD_AES_256_GCM encrypted with the APIv3 key. Amounts are integers in fen.
"""

import csv
import io
import json
import secrets
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import requests
from django.conf import settings

from apps.core.money import from_cents, to_cents, to_money
from apps.payments.providers import crypto
from apps.payments.providers.base import (
    ALREADY_PAID,
    Notification,
    NotificationInvalid,
    PaymentProvider,
    ProviderRefused,
    ProviderUnavailable,
    RefundResult,
    RefundState,
    Reply,
    SignatureInvalid,
    StatementRow,
    TradeResult,
    TradeState,
)

MAX_SKEW_SECONDS = 300
_SHANGHAI = ZoneInfo("Asia/Shanghai")
AUTH_SCHEMA = "WECHATPAY2-SHA256-RSA2048"

_TRADE_STATES = {
    "SUCCESS": TradeState.PAID,
    "REFUND": TradeState.PAID,  # paid, then (partly) refunded: the payment itself succeeded
    "NOTPAY": TradeState.PENDING,
    "USERPAYING": TradeState.PENDING,
    "CLOSED": TradeState.CLOSED,
    "REVOKED": TradeState.CLOSED,
    "PAYERROR": TradeState.FAILED,
}
_REFUND_STATES = {
    "SUCCESS": RefundState.SUCCEEDED,
    "PROCESSING": RefundState.PROCESSING,
    "CLOSED": RefundState.FAILED,
    "ABNORMAL": RefundState.FAILED,
}


def signing_message(*parts: str) -> bytes:
    """WeChat's signed strings: each part followed by a newline."""
    return "".join(f"{part}\n" for part in parts).encode()


def authorization_header(*, mchid: str, serial_no: str, private_key, method: str, url: str, body: str) -> str:
    nonce = secrets.token_hex(16)
    timestamp = str(int(time.time()))
    signature = crypto.rsa_sign(private_key, signing_message(method.upper(), url, timestamp, nonce, body))
    return (
        f'{AUTH_SCHEMA} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial_no}"'
    )


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _trade_from(data: dict) -> TradeResult:
    amount = data.get("amount") or {}
    total = amount.get("total")
    return TradeResult(
        out_trade_no=data.get("out_trade_no", ""),
        state=_TRADE_STATES.get(data.get("trade_state", ""), TradeState.PENDING),
        amount=from_cents(int(total)) if total is not None else None,
        transaction_id=data.get("transaction_id", ""),
        paid_at=_parse_time(data.get("success_time")),
        raw=data,
    )


def _refund_from(data: dict) -> RefundResult:
    status = data.get("status") or data.get("refund_status") or ""
    refund_fen = (data.get("amount") or {}).get("refund")
    return RefundResult(
        reference=data.get("out_refund_no", ""),
        state=_REFUND_STATES.get(status, RefundState.PROCESSING),
        refund_id=data.get("refund_id", ""),
        amount=from_cents(int(refund_fen)) if refund_fen is not None else None,
        raw=data,
    )


class WechatPayProvider(PaymentProvider):
    name = "wechat"

    def __init__(self):
        self.base_url = settings.WECHATPAY_GATEWAY_URL.rstrip("/")
        self.mchid = settings.WECHATPAY_MCHID
        self.appid = settings.WECHATPAY_APPID
        self.serial_no = settings.WECHATPAY_SERIAL_NO
        self.apiv3_key = settings.WECHATPAY_APIV3_KEY
        self.timeout = settings.PAYMENT_HTTP_TIMEOUT_SECONDS

    # --- keys ---------------------------------------------------------------------------

    def _private_key(self):
        return crypto.load_private_key(settings.WECHATPAY_PRIVATE_KEY_PATH)

    def platform_key(self, serial: str):
        """The platform public key for ``serial``, or None when we hold no such key."""
        if settings.WECHATPAY_PLATFORM_PUBLIC_KEY_ID and serial == settings.WECHATPAY_PLATFORM_PUBLIC_KEY_ID:
            return crypto.load_public_key(settings.WECHATPAY_PLATFORM_PUBLIC_KEY_PATH)
        folder = settings.WECHATPAY_PLATFORM_CERTS_DIR
        if not folder or not serial or not serial.replace("_", "").isalnum():
            return None
        path = Path(folder) / f"{serial}.pem"
        return crypto.load_public_key(str(path)) if path.is_file() else None

    def verify_signed(self, headers: dict[str, str], body: bytes) -> None:
        """Check ``Wechatpay-*`` headers over ``body``; raise SignatureInvalid otherwise."""
        lowered = {k.lower(): v for k, v in headers.items()}
        timestamp = lowered.get("wechatpay-timestamp", "")
        nonce = lowered.get("wechatpay-nonce", "")
        signature = lowered.get("wechatpay-signature", "")
        serial = lowered.get("wechatpay-serial", "")
        if not (timestamp and nonce and signature and serial):
            raise SignatureInvalid("missing Wechatpay-* signature headers")
        try:
            skew = abs(time.time() - int(timestamp))
        except ValueError as exc:
            raise SignatureInvalid("Wechatpay-Timestamp is not an integer") from exc
        if skew > MAX_SKEW_SECONDS:
            raise SignatureInvalid(f"Wechatpay-Timestamp {timestamp} is {int(skew)}s off")
        key = self.platform_key(serial)
        if key is None:
            raise SignatureInvalid(f"no platform key for serial {serial!r}")
        message = signing_message(timestamp, nonce, body.decode("utf-8", errors="replace"))
        if not crypto.rsa_verify(key, message, signature):
            raise SignatureInvalid("Wechatpay-Signature does not verify")

    # --- HTTP -----------------------------------------------------------------------------

    def _call(self, method: str, path: str, payload: dict | None = None, *, query: dict | None = None):
        url_path = path + (f"?{urlencode(query)}" if query else "")
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")) if payload is not None else ""
        headers = {
            "Authorization": authorization_header(
                mchid=self.mchid,
                serial_no=self.serial_no,
                private_key=self._private_key(),
                method=method,
                url=url_path,
                body=body,
            ),
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        try:
            response = requests.request(
                method, self.base_url + url_path, data=body.encode() or None, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"WeChat Pay {method} {path}: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            # 429 FREQUENCY_LIMITED: rate limited, like a 5xx it is worth retrying later.
            raise ProviderUnavailable(f"WeChat Pay {method} {path}: HTTP {response.status_code}")
        try:
            self.verify_signed(dict(response.headers), response.content)
        except SignatureInvalid as exc:
            raise ProviderUnavailable(f"WeChat Pay answer to {method} {path} not trusted: {exc}") from exc
        if response.status_code == 204:
            return {}
        data = response.json() if response.content else {}
        if response.status_code >= 400:
            raise ProviderRefused(data.get("code", str(response.status_code)), data.get("message", ""))
        return data

    def _download(self, url: str) -> bytes:
        parts = urlsplit(url)
        url_path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {
            "Authorization": authorization_header(
                mchid=self.mchid,
                serial_no=self.serial_no,
                private_key=self._private_key(),
                method="GET",
                url=url_path,
                body="",
            )
        }
        try:
            response = requests.get(url, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"WeChat Pay bill download: {exc}") from exc
        if response.status_code != 200:
            raise ProviderUnavailable(f"WeChat Pay bill download: HTTP {response.status_code}")
        return response.content

    # --- strategy -------------------------------------------------------------------------

    def create_payment(
        self, *, out_trade_no: str, amount: Decimal, description: str, notify_url: str, expires_at: datetime
    ) -> dict:
        data = self._call(
            "POST",
            "/v3/pay/transactions/native",
            {
                "appid": self.appid,
                "mchid": self.mchid,
                "description": description,
                "out_trade_no": out_trade_no,
                "notify_url": notify_url,
                "time_expire": expires_at.astimezone(_SHANGHAI).replace(microsecond=0).isoformat(),
                "amount": {"total": to_cents(amount), "currency": "CNY"},
            },
        )
        return {"provider": self.name, "code_url": data["code_url"]}

    def parse_notification(self, *, headers: dict[str, str], body: bytes) -> Notification:
        self.verify_signed(headers, body)
        try:
            envelope = json.loads(body)
            resource = envelope["resource"]
            plaintext = crypto.aes_gcm_decrypt(
                self.apiv3_key,
                nonce=resource["nonce"],
                associated_data=resource.get("associated_data", ""),
                ciphertext=resource["ciphertext"],
            )
            data = json.loads(plaintext)
        except crypto.DecryptionError as exc:
            raise NotificationInvalid(str(exc)) from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise NotificationInvalid(f"unreadable notification: {exc}") from exc
        if data.get("mchid", self.mchid) != self.mchid or data.get("sp_mchid"):
            raise NotificationInvalid(f"notification for merchant {data.get('mchid')!r}")
        event_type = envelope.get("event_type", "")
        if event_type.startswith("REFUND."):
            return Notification(
                event_type=event_type, out_trade_no=data.get("out_trade_no", ""), refund=_refund_from(data)
            )
        if data.get("appid", self.appid) != self.appid:
            raise NotificationInvalid(f"notification for app {data.get('appid')!r}")
        return Notification(event_type=event_type, out_trade_no=data.get("out_trade_no", ""), trade=_trade_from(data))

    def query_payment(self, *, out_trade_no: str) -> TradeResult:
        try:
            data = self._call("GET", f"/v3/pay/transactions/out-trade-no/{out_trade_no}", query={"mchid": self.mchid})
        except ProviderRefused as exc:
            if exc.code in ("ORDER_NOT_EXIST", "ORDERNOTEXIST", "RESOURCE_NOT_EXISTS"):
                return TradeResult(out_trade_no=out_trade_no, state=TradeState.NOT_FOUND)
            raise
        return _trade_from(data)

    def close_payment(self, *, out_trade_no: str) -> None:
        try:
            self._call("POST", f"/v3/pay/transactions/out-trade-no/{out_trade_no}/close", {"mchid": self.mchid})
        except ProviderRefused as exc:
            if exc.code == "ORDERPAID":
                raise ProviderRefused(ALREADY_PAID, exc.message) from exc
            raise

    def refund(
        self, *, out_trade_no: str, reference: str, amount: Decimal, total: Decimal, reason: str, notify_url: str
    ) -> RefundResult:
        payload = {
            "out_trade_no": out_trade_no,
            "out_refund_no": reference,
            "notify_url": notify_url,
            "amount": {"refund": to_cents(amount), "total": to_cents(total), "currency": "CNY"},
        }
        if reason:
            payload["reason"] = reason[:80]
        return _refund_from(self._call("POST", "/v3/refund/domestic/refunds", payload))

    def query_refund(self, *, out_trade_no: str, reference: str) -> RefundResult:
        try:
            return _refund_from(self._call("GET", f"/v3/refund/domestic/refunds/{reference}"))
        except ProviderRefused as exc:
            if exc.code == "RESOURCE_NOT_EXISTS":
                return RefundResult(reference=reference, state=RefundState.NOT_FOUND)
            raise

    def fetch_statement(self, *, bill_date: date) -> bytes:
        data = self._call("GET", "/v3/bill/tradebill", query={"bill_date": bill_date.isoformat(), "bill_type": "ALL"})
        return self._download(data["download_url"])

    def parse_statement(self, data: bytes) -> list[StatementRow]:
        """WeChat's trade bill: a header row, rows of backtick-prefixed values, then totals.

        Successful payments have 交易状态 SUCCESS (amount 订单金额, else 应结订单金额); refunds
        have 交易状态 REFUND with 商户退款单号 and 申请退款金额 (else 退款金额).
        """
        reader = csv.reader(io.StringIO(data.decode("utf-8-sig")))
        header = next(reader, None)
        if not header or "商户订单号" not in header:
            raise ValueError("not a WeChat Pay trade bill: header row with 商户订单号 missing")
        header = [h.strip() for h in header]
        rows: list[StatementRow] = []
        for values in reader:
            if not values or not values[0].startswith("`"):
                break  # the totals section (总交易单数,...) follows the detail rows
            record = dict(zip(header, (v.strip().lstrip("`") for v in values), strict=False))
            status = record.get("交易状态", "")
            occurred = datetime.fromisoformat(record["交易时间"]) if record.get("交易时间") else None
            if occurred is not None and occurred.tzinfo is None:
                occurred = occurred.replace(tzinfo=_SHANGHAI)
            if status == "REFUND":
                amount = record.get("申请退款金额") or record.get("退款金额") or "0"
                rows.append(
                    StatementRow(
                        kind="refund",
                        out_trade_no=record.get("商户订单号", ""),
                        amount=to_money(amount),
                        status=record.get("退款状态", "") or status,
                        transaction_id=record.get("微信订单号", ""),
                        refund_reference=record.get("商户退款单号", ""),
                        occurred_at=occurred,
                        raw=record,
                    )
                )
            elif status == "SUCCESS":
                amount = record.get("订单金额") or record.get("应结订单金额") or "0"
                rows.append(
                    StatementRow(
                        kind="payment",
                        out_trade_no=record.get("商户订单号", ""),
                        amount=to_money(amount),
                        status=status,
                        transaction_id=record.get("微信订单号", ""),
                        occurred_at=occurred,
                        raw=record,
                    )
                )
        return rows

    def reply_ok(self) -> Reply:
        return Reply(status=200, body=json.dumps({"code": "SUCCESS", "message": "OK"}), content_type="application/json")

    def reply_fail(self, message: str, *, status: int) -> Reply:
        return Reply(
            status=status,
            body=json.dumps({"code": "FAIL", "message": message}, ensure_ascii=False),
            content_type="application/json",
        )
