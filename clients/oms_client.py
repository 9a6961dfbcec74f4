"""A small typed client for the OMS API (``/api/schema/``), for platforms and storefronts.

Standard library and ``requests`` only: copy this file into an integration as it is.
``SignedAuth`` signs each request as docs/API.md describes (checked against
docs/signature-vectors.json); ``OmsClient`` wraps the operations a shop app uses, follows
cursor pages, retries 429/503 answers after ``Retry-After`` and raises ``OmsApiError`` with
the API's ``{"code", "message", "details"}``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Iterator
from typing import Any, TypedDict
from urllib.parse import quote, unquote, unquote_plus, urlsplit

import requests

RETRIED_STATUSES = frozenset({429, 503})


def canonical_target(target: str) -> str:
    """The path and query as signed: escapes decoded and re-encoded in one spelling."""
    path, _, query = target.partition("?")
    canonical = quote(unquote(path), safe="/")
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append(f"{quote(unquote_plus(name), safe='')}={quote(unquote_plus(value), safe='')}")
    return f"{canonical}?{'&'.join(pairs)}" if pairs else canonical


def string_to_sign(method: str, target: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    body_hash = hashlib.sha256(body).hexdigest()
    return "\n".join([method.upper(), canonical_target(target), timestamp, nonce, body_hash]).encode()


def sign(secret: str, method: str, target: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = string_to_sign(method, target, timestamp, nonce, body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class SignedAuth(requests.auth.AuthBase):
    """Signs a prepared request (its final URL and body) with the app key and secret."""

    def __init__(self, app_key: str, secret: str):
        self.app_key = app_key
        self.secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        timestamp = str(int(time.time()))
        nonce = uuid.uuid4().hex
        url = urlsplit(request.url)
        target = f"{url.path}?{url.query}" if url.query else url.path
        request.headers.update(
            {
                "X-App-Key": self.app_key,
                "X-Timestamp": timestamp,
                "X-Nonce": nonce,
                "X-Signature": sign(self.secret, request.method or "GET", target, timestamp, nonce, body),
            }
        )
        return request


class OmsApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict[str, Any]):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class Recipient(TypedDict):
    name: str
    phone: str
    province: str
    city: str
    district: str
    address: str


class OrderListItem(TypedDict):
    order_no: str
    shop: str | None
    platform: str
    platform_order_id: str | None
    buyer_id: str
    status: str
    status_display: str
    payable_amount: str
    paid_amount: str
    refunded_amount: str
    recipient: Recipient
    created_at: str
    paid_at: str | None
    payment_deadline: str | None
    version: int


class OrderLine(TypedDict):
    id: int
    sku_code: str
    name: str
    quantity: int
    unit_price: str
    discount_amount: str
    line_total: str
    platform_sku_id: str


class Order(OrderListItem):
    total_amount: str
    discount_amount: str
    shipping_fee: str
    buyer_message: str
    seller_remark: str
    lines: list[OrderLine]


class SearchLine(TypedDict):
    sku_code: str
    name: str
    quantity: int
    line_total: str


class SearchItem(OrderListItem):
    shipped_at: str | None
    lines: list[SearchLine]


class Page(TypedDict):
    next: str | None
    previous: str | None
    results: list[Any]


class StockTotal(TypedDict):
    on_hand: int
    reserved: int
    available: int


class SkuStock(TypedDict):
    sku_code: str
    name: str
    total: StockTotal


class OmsClient:
    """The operations a shop app uses. ``base_url`` is e.g. ``https://oms.example.com``."""

    def __init__(self, base_url: str, app_key: str, secret: str, *, timeout: float = 10, max_retries: int = 3):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.auth = SignedAuth(app_key, secret)
        self.timeout = timeout
        self.max_retries = max_retries

    def request(self, method: str, path: str, *, params=None, json=None, headers=None) -> Any:
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        for attempt in range(self.max_retries + 1):
            # Signed afresh on every try: a nonce is accepted once.
            response = self.session.request(
                method, url, params=params, json=json, headers=headers, timeout=self.timeout
            )
            if response.status_code not in RETRIED_STATUSES or attempt == self.max_retries:
                break
            time.sleep(min(float(response.headers.get("Retry-After", 2**attempt)), 30))
        if response.status_code >= 400:
            error = response.json()
            raise OmsApiError(response.status_code, error["code"], error["message"], error["details"])
        return response.json()

    def pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
        """Every item of a list or search, following ``next`` until it is null."""
        page: Page = self.request("GET", path, params=params)
        while True:
            yield from page["results"]
            if page["next"] is None:
                return
            page = self.request("GET", page["next"])

    def orders(self, **filters: Any) -> Iterator[OrderListItem]:
        """``buyer_id``, ``status`` (a list), ``created_after``, ``created_before``, ``page_size``."""
        return self.pages("/api/v1/orders", filters)

    def search_orders(self, **filters: Any) -> Iterator[SearchItem]:
        """The list's filters plus ``q``, ``order_no``, ``phone``, ``sku_code``, ``sort``..."""
        return self.pages("/api/v1/orders/search", filters)

    def order(self, order_no: str) -> Order:
        return self.request("GET", f"/api/v1/orders/{quote(order_no, safe='')}")

    def create_order(self, order: dict[str, Any], *, idempotency_key: str | None = None) -> Order:
        """Create an order; retried safely under one ``Idempotency-Key``."""
        key = idempotency_key or uuid.uuid4().hex
        return self.request("POST", "/api/v1/orders", json=order, headers={"Idempotency-Key": key})

    def update_remark(self, order_no: str, remark: str, *, version: int) -> Order:
        """Refused with ``OmsApiError`` 412 ``version_conflict`` if the order changed since ``version``."""
        return self.request(
            "POST", f"/api/v1/orders/{quote(order_no, safe='')}/remark", json={"remark": remark, "version": version}
        )

    def update_address(self, order_no: str, recipient: Recipient, *, version: int) -> Order:
        return self.request(
            "POST",
            f"/api/v1/orders/{quote(order_no, safe='')}/address",
            json={"recipient": recipient, "version": version},
        )

    def cancel_order(self, order_no: str, reason: str = "") -> Order:
        return self.request("POST", f"/api/v1/orders/{quote(order_no, safe='')}/cancel", json={"reason": reason})

    def sku_stock(self, sku_code: str) -> SkuStock:
        return self.request("GET", f"/api/v1/skus/{quote(sku_code, safe='')}/stock")
