"""Alipay (支付宝) open platform: face-to-face precreate (the buyer scans ``qr_code``).

Gateway requests are form posts signed RSA2 (SHA256withRSA) with the app private key over the
sorted ``k=v&...`` of every non-empty parameter except ``sign``. Answers are JSON
``{"<method>_response": {...}, "sign": "..."}`` signed by Alipay over the raw response node.
Asynchronous notifications are form posts signed over the sorted parameters without ``sign``
and ``sign_type``, verified with Alipay's public key; ``app_id`` and ``seller_id`` must be
ours. Only TRADE_SUCCESS and TRADE_FINISHED mean paid; the reply is exactly ``success``.
"""

import csv
import io
import json
import zipfile
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.utils import timezone

from apps.core.money import to_money
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

_SHANGHAI = ZoneInfo("Asia/Shanghai")
_TRADE_STATES = {
    "TRADE_SUCCESS": TradeState.PAID,
    "TRADE_FINISHED": TradeState.PAID,
    "WAIT_BUYER_PAY": TradeState.PENDING,
    "TRADE_CLOSED": TradeState.CLOSED,
}


def signing_content(params: dict[str, str], *, exclude: tuple[str, ...] = ("sign",)) -> bytes:
    """``k=v`` pairs of the non-empty parameters, sorted by key, joined with ``&``."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in exclude and params[k] != "").encode()


def response_node(text: str, key: str) -> tuple[dict, str, str]:
    """The response node, its exact signed text and the sign, from an Alipay gateway answer."""
    marker = f'"{key}"'
    start = text.find(marker)
    if start < 0:
        raise ValueError(f"{key} missing from the answer")
    start = text.index(":", start + len(marker)) + 1
    while text[start].isspace():
        start += 1
    node, end = json.JSONDecoder().raw_decode(text, start)
    sign = json.loads(text).get("sign", "")
    return node, text[start:end], sign


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=_SHANGHAI)


class AlipayProvider(PaymentProvider):
    name = "alipay"

    def __init__(self):
        self.gateway_url = settings.ALIPAY_GATEWAY_URL
        self.app_id = settings.ALIPAY_APP_ID
        self.seller_id = settings.ALIPAY_SELLER_ID
        self.timeout = settings.PAYMENT_HTTP_TIMEOUT_SECONDS

    def _alipay_public_key(self):
        return crypto.load_public_key(settings.ALIPAY_PUBLIC_KEY_PATH)

    def _call(self, method: str, biz: dict, *, notify_url: str = "") -> dict:
        params = {
            "app_id": self.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": timezone.localtime(timezone.now(), _SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
            "notify_url": notify_url,
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
        }
        params = {k: v for k, v in params.items() if v}
        params["sign"] = crypto.rsa_sign(
            crypto.load_private_key(settings.ALIPAY_PRIVATE_KEY_PATH), signing_content(params)
        )
        try:
            response = requests.post(self.gateway_url, data=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"Alipay {method}: {exc}") from exc
        if response.status_code != 200:
            raise ProviderUnavailable(f"Alipay {method}: HTTP {response.status_code}")
        try:
            node, signed_text, sign = response_node(
                response.content.decode("utf-8"), method.replace(".", "_") + "_response"
            )
        except (ValueError, IndexError) as exc:
            raise ProviderUnavailable(f"Alipay {method}: unreadable answer: {exc}") from exc
        if not crypto.rsa_verify(self._alipay_public_key(), signed_text.encode(), sign):
            raise ProviderUnavailable(f"Alipay {method}: answer signature does not verify")
        code = node.get("code")
        if code == "10000":
            return node
        if code in ("20000", "20001") or node.get("sub_code", "").endswith("SYSTEM_ERROR"):
            raise ProviderUnavailable(f"Alipay {method}: {code} {node.get('sub_code', '')} {node.get('sub_msg', '')}")
        raise ProviderRefused(node.get("sub_code") or str(code), node.get("sub_msg") or node.get("msg", ""))

    def create_payment(
        self, *, out_trade_no: str, amount: Decimal, description: str, notify_url: str, expires_at: datetime
    ) -> dict:
        node = self._call(
            "alipay.trade.precreate",
            {
                "out_trade_no": out_trade_no,
                "total_amount": str(to_money(amount)),
                "subject": description,
                "time_expire": timezone.localtime(expires_at, _SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            },
            notify_url=notify_url,
        )
        return {"provider": self.name, "qr_code": node["qr_code"]}

    def parse_notification(self, *, headers: dict[str, str], body: bytes) -> Notification:
        params = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
        sign = params.get("sign", "")
        if not sign or params.get("sign_type", "RSA2") != "RSA2":
            raise SignatureInvalid("missing sign or unsupported sign_type")
        if not crypto.rsa_verify(
            self._alipay_public_key(), signing_content(params, exclude=("sign", "sign_type")), sign
        ):
            raise SignatureInvalid("Alipay notification sign does not verify")
        if params.get("app_id") != self.app_id:
            raise NotificationInvalid(f"notification for app_id {params.get('app_id')!r}")
        if self.seller_id and params.get("seller_id") != self.seller_id:
            raise NotificationInvalid(f"notification for seller_id {params.get('seller_id')!r}")
        if not params.get("out_trade_no"):
            raise NotificationInvalid("notification without out_trade_no")
        try:
            amount = to_money(params["total_amount"])
        except (KeyError, ArithmeticError) as exc:
            raise NotificationInvalid("notification without a valid total_amount") from exc
        status = params.get("trade_status", "")
        trade = TradeResult(
            out_trade_no=params["out_trade_no"],
            state=_TRADE_STATES.get(status, TradeState.PENDING),
            amount=amount,
            transaction_id=params.get("trade_no", ""),
            paid_at=_parse_time(params.get("gmt_payment")),
            raw=params,
        )
        return Notification(event_type=status, out_trade_no=trade.out_trade_no, trade=trade)

    def query_payment(self, *, out_trade_no: str) -> TradeResult:
        try:
            node = self._call("alipay.trade.query", {"out_trade_no": out_trade_no})
        except ProviderRefused as exc:
            if exc.code == "ACQ.TRADE_NOT_EXIST":
                return TradeResult(out_trade_no=out_trade_no, state=TradeState.NOT_FOUND)
            raise
        return TradeResult(
            out_trade_no=out_trade_no,
            state=_TRADE_STATES.get(node.get("trade_status", ""), TradeState.PENDING),
            amount=to_money(node["total_amount"]) if node.get("total_amount") else None,
            transaction_id=node.get("trade_no", ""),
            paid_at=_parse_time(node.get("send_pay_date")),
            raw=node,
        )

    def close_payment(self, *, out_trade_no: str) -> None:
        try:
            self._call("alipay.trade.close", {"out_trade_no": out_trade_no})
        except ProviderRefused as exc:
            if exc.code == "ACQ.TRADE_STATUS_ERROR":
                raise ProviderRefused(ALREADY_PAID, exc.message) from exc
            if exc.code != "ACQ.TRADE_NOT_EXIST":
                raise

    def refund(
        self, *, out_trade_no: str, reference: str, amount: Decimal, total: Decimal, reason: str, notify_url: str
    ) -> RefundResult:
        biz = {"out_trade_no": out_trade_no, "refund_amount": str(to_money(amount)), "out_request_no": reference}
        if reason:
            biz["refund_reason"] = reason[:256]
        node = self._call("alipay.trade.refund", biz)
        if node.get("fund_change") == "Y":
            return RefundResult(
                reference=reference, state=RefundState.SUCCEEDED, refund_id=node.get("trade_no", ""), raw=node
            )
        # "N" is also the answer to a repeated request: the refund query says what happened.
        return self.query_refund(out_trade_no=out_trade_no, reference=reference)

    def query_refund(self, *, out_trade_no: str, reference: str) -> RefundResult:
        node = self._call(
            "alipay.trade.fastpay.refund.query", {"out_trade_no": out_trade_no, "out_request_no": reference}
        )
        if not node.get("out_request_no") and not node.get("refund_amount"):
            # Alipay answers an unknown out_request_no with an empty success: it never got the refund.
            return RefundResult(reference=reference, state=RefundState.NOT_FOUND, raw=node)
        state = RefundState.SUCCEEDED if node.get("refund_status") == "REFUND_SUCCESS" else RefundState.PROCESSING
        amount = to_money(node["refund_amount"]) if node.get("refund_amount") else None
        return RefundResult(
            reference=reference, state=state, refund_id=node.get("trade_no", ""), amount=amount, raw=node
        )

    def fetch_statement(self, *, bill_date: date) -> bytes:
        node = self._call(
            "alipay.data.dataservice.bill.downloadurl.query", {"bill_type": "trade", "bill_date": bill_date.isoformat()}
        )
        try:
            response = requests.get(node["bill_download_url"], timeout=self.timeout)
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"Alipay bill download: {exc}") from exc
        if response.status_code != 200:
            raise ProviderUnavailable(f"Alipay bill download: HTTP {response.status_code}")
        return response.content

    def parse_statement(self, data: bytes) -> list[StatementRow]:
        """Alipay's trade detail CSV (业务明细), plain or inside the downloaded zip.

        ``#`` lines frame the table; 业务类型 交易 is a payment, 退款 a refund whose
        退款批次号/请求号 is our refund reference (its 订单金额 is negative).
        """
        if data[:2] == b"PK":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                name = next(n for n in archive.namelist() if "汇总" not in n)
                data = archive.read(name)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("gb18030")
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
        reader = csv.reader(lines)
        header = next(reader, None)
        if not header or "商户订单号" not in [h.strip() for h in header]:
            raise ValueError("not an Alipay trade detail: header row with 商户订单号 missing")
        header = [h.strip() for h in header]
        rows: list[StatementRow] = []
        for values in reader:
            record = dict(zip(header, (v.strip() for v in values), strict=False))
            kind = record.get("业务类型", "")
            amount = to_money(record.get("订单金额（元）") or "0")
            occurred = _parse_time(record.get("完成时间") or record.get("创建时间"))
            if kind == "交易":
                rows.append(
                    StatementRow(
                        kind="payment",
                        out_trade_no=record.get("商户订单号", ""),
                        amount=amount,
                        status="TRADE_SUCCESS",
                        transaction_id=record.get("支付宝交易号", ""),
                        occurred_at=occurred,
                        raw=record,
                    )
                )
            elif kind == "退款":
                rows.append(
                    StatementRow(
                        kind="refund",
                        out_trade_no=record.get("商户订单号", ""),
                        amount=abs(amount),
                        status="REFUND_SUCCESS",
                        transaction_id=record.get("支付宝交易号", ""),
                        refund_reference=record.get("退款批次号/请求号", ""),
                        occurred_at=occurred,
                        raw=record,
                    )
                )
        return rows

    def reply_ok(self) -> Reply:
        return Reply(status=200, body="success", content_type="text/plain")

    def reply_fail(self, message: str, *, status: int) -> Reply:
        return Reply(status=status, body="failure", content_type="text/plain")
