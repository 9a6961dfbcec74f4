"""The adapter template: everything platform-independent lives here.

``PlatformAdapter`` does the HTTP (``requests`` with timeouts), the retries of transient
failures, the mapping of failures to ``TransientAdapterError`` / ``PermanentAdapterError``,
and the paging over an updated-time window.

Paging is lossless when the window's end lies in the past (the pull fixes it before the
first request): an order updated during the pull then only leaves the window, it never
enters it. Numbered pages (Tmall, JD, Douyin) are fetched from the LAST page backwards, as
Taobao recommends for its increment API: an order leaving the window shifts only the
orders after it one place down, and those behind the page being fetched are fetched with
the following (earlier) pages; at worst one is read twice. Platforms with a cursor (WeChat's
``next_key``) are followed forwards: the cursor marks the last order served, so an order
leaving the window cannot shift the next page. A platform subclass only builds its signed
requests (``build_*``) and parses the answers (``parse_*``, ``check_response``) into the
normalized structures below, so the pull, conversion, stock sync and write-back never see a
platform's field names.
"""

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")


class NormalizedStatus:
    """Order statuses every platform is mapped onto."""

    WAIT_PAY = "wait_pay"
    PAID = "paid"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REFUNDING = "refunding"
    # Paid, but the platform forbids shipping it for now (a cancellation or after-sale is
    # pending, or the order is paused): keep the order and hold it, do not cancel it.
    LOCKED = "locked"


class AdapterError(Exception):
    """A call to a platform failed. ``transient`` failures are worth retrying later."""

    transient = False

    def __init__(self, message: str, *, code: str = ""):
        super().__init__(message)
        self.code = code


class TransientAdapterError(AdapterError):
    transient = True


class PermanentAdapterError(AdapterError):
    transient = False


class PayloadError(ValueError):
    """A platform order payload that cannot be understood (missing or malformed fields)."""


@dataclass(frozen=True)
class NormalizedLine:
    platform_sku_id: str
    outer_id: str
    title: str
    quantity: int
    unit_price: Decimal
    discount_amount: Decimal = Decimal("0.00")


@dataclass(frozen=True)
class NormalizedRefund:
    platform_refund_id: str
    amount: Decimal
    reason: str = ""
    kind: str = "refund_only"  # or "return_refund"
    platform_sku_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class NormalizedOrder:
    platform_order_id: str
    status: str
    platform_status: str
    buyer_id: str
    recipient_name: str
    recipient_phone: str
    province: str
    city: str
    district: str
    address: str
    lines: tuple[NormalizedLine, ...]
    total_amount: Decimal
    discount_amount: Decimal
    shipping_fee: Decimal
    paid_amount: Decimal
    paid_at: datetime | None
    updated_at: datetime
    buyer_message: str = ""
    refunds: tuple[NormalizedRefund, ...] = field(default_factory=tuple)

    @property
    def is_paid(self) -> bool:
        return self.status not in (NormalizedStatus.WAIT_PAY,) and self.paid_at is not None


@dataclass(frozen=True)
class HttpCall:
    """One request a platform subclass wants made."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class OrderPage:
    number: int  # 1 = the oldest updates; numbered pages arrive last page first
    orders: list[tuple[dict, NormalizedOrder]]
    last: bool  # the last page of the window to arrive: every order of it was served
    # Orders of the page that could not be understood: (payload, error). They are kept for
    # staff rather than failing the page, so one bad order never stops a shop's pulls.
    unreadable: list[tuple[dict, str]] = field(default_factory=list)


@dataclass(frozen=True)
class StockItem:
    platform_sku_id: str
    outer_id: str
    platform_item_id: str
    quantity: int


def cents(value: Any) -> Decimal:
    """Fen (int or numeric string) to yuan with two places."""
    return (Decimal(str(value or 0)) / 100).quantize(Decimal("0.01"))


def yuan(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


PLATFORM_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def parse_local(value: str | None) -> datetime | None:
    """Platform wall-clock time ("2024-05-01 10:00:00", Beijing time) to an aware datetime."""
    if not value:
        return None
    return datetime.strptime(value, PLATFORM_TIME_FORMAT).replace(tzinfo=SHANGHAI)


def format_local(value: datetime) -> str:
    return value.astimezone(SHANGHAI).strftime(PLATFORM_TIME_FORMAT)


def from_unix(value: Any) -> datetime | None:
    if value in (None, "", 0, "0"):
        return None
    return datetime.fromtimestamp(int(value), tz=SHANGHAI)


MAX_PLATFORM_ORDER_ID = 64  # RawOrder.platform_order_id and Order.platform_order_id


def _storable(name: str, moment: datetime | None) -> datetime | None:
    """``moment`` if the database can keep it (in UTC); near year 1 or 9999 it cannot."""
    if moment is None:
        return None
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise PayloadError(f"{name} {moment.isoformat()} is out of range") from None
    return moment


def order_discount(*, lines: list[NormalizedLine], shipping_fee: Decimal, paid_amount: Decimal) -> Decimal:
    """The order-level discount that makes goods - line discounts - discount + shipping = paid.

    Platforms split discounts between lines and the order in their own ways; deriving the
    order-level part from what the buyer actually paid keeps our amounts equal to theirs.
    """
    goods = sum((line.unit_price * line.quantity - line.discount_amount for line in lines), Decimal("0.00"))
    return max(goods + shipping_fee - paid_amount, Decimal("0.00")).quantize(Decimal("0.01"))


def normalized_order(
    *,
    platform_order_id: str,
    lines: list[NormalizedLine] | tuple[NormalizedLine, ...],
    shipping_fee: Decimal,
    paid_amount: Decimal,
    paid_at: datetime | None,
    updated_at: datetime,
    **fields,
) -> NormalizedOrder:
    """A NormalizedOrder whose goods total and order-level discount follow from its lines,
    shipping fee and what the buyer paid (``order_discount``), the same way for every platform.

    An order id we cannot store (empty or over 64 characters) or a time that leaves the
    calendar in UTC is a PayloadError."""
    if not platform_order_id or len(platform_order_id) > MAX_PLATFORM_ORDER_ID:
        raise PayloadError(f"the order id must have 1 to {MAX_PLATFORM_ORDER_ID} characters")
    lines = tuple(lines)
    return NormalizedOrder(
        platform_order_id=platform_order_id,
        paid_at=_storable("paid_at", paid_at),
        updated_at=_storable("updated_at", updated_at),
        lines=lines,
        total_amount=sum((line.unit_price * line.quantity for line in lines), Decimal("0.00")),
        discount_amount=order_discount(lines=list(lines), shipping_fee=shipping_fee, paid_amount=paid_amount),
        shipping_fee=shipping_fee,
        paid_amount=paid_amount,
        **fields,
    )


def adapter_error(message: str, *, code: Any, transient: bool) -> AdapterError:
    """The error for a platform's error answer: transient ones are retried, others not."""
    return (TransientAdapterError if transient else PermanentAdapterError)(message, code=str(code))


def require(raw: dict, *keys: str) -> Any:
    """``raw[k1][k2]...``, or PayloadError naming the missing field."""
    value: Any = raw
    for key in keys:
        if not isinstance(value, dict) or value.get(key) in (None, ""):
            raise PayloadError(f"missing field {'.'.join(keys)}")
        value = value[key]
    return value


class PlatformAdapter:
    """Template for one platform. Subclasses set ``platform`` and implement the hooks."""

    platform: str = ""
    default_base_url: str = ""
    order_id_field: str = ""  # the order id's key in the platform's order document
    page_size: int = 50
    # "numbered": pages 1..n with the window's total in every answer, fetched last page first;
    # "cursor": the platform's own cursor (``fetch_order_page``), followed forwards.
    paging: str = "numbered"
    supports_pull: bool = True
    # Our carrier codes (as the WMS reports them) to the platform's logistics company codes.
    carrier_codes: dict[str, str] = {}

    def __init__(self, shop, *, session: requests.Session | None = None):
        self.shop = shop
        self.base_url = (shop.api_url or self.default_base_url).rstrip("/")
        self.session = session or requests.Session()
        self.timeout = settings.CHANNEL_HTTP_TIMEOUT_SECONDS
        self.retries = settings.CHANNEL_HTTP_RETRIES

    # --- the template ----------------------------------------------------------------

    def fetch_orders(self, *, start: datetime, end: datetime) -> Iterator[OrderPage]:
        """Yield every page of the orders updated in [start, end] (``end`` in the past).

        Numbered pages come last page first: the first request only learns the total (its
        orders are read again as page 1 at the end, unless it is the only page). The caller
        saves each page before asking for the next and moves its cursor to ``end`` only
        after the page marked ``last``: a failure midway redoes the window.
        """
        if self.paging == "cursor":
            yield from self._fetch_forwards(start=start, end=end)
            return
        first = self.first_page_token()
        raw_orders, total = self.fetch_numbered_page(start=start, end=end, page=first)
        pages = max(1, -(-total // self.page_size))
        if pages == 1:
            yield self._order_page(number=1, raw_orders=raw_orders, last=True)
            return
        for number in range(pages, 0, -1):
            raw_orders, _total = self.fetch_numbered_page(start=start, end=end, page=first + number - 1)
            yield self._order_page(number=number, raw_orders=raw_orders, last=number == 1)

    def _fetch_forwards(self, *, start: datetime, end: datetime) -> Iterator[OrderPage]:
        token = self.first_page_token()
        number = 1
        while True:
            raw_orders, next_token = self.fetch_order_page(start=start, end=end, token=token)
            yield self._order_page(number=number, raw_orders=raw_orders, last=next_token is None)
            if next_token is None:
                return
            token = next_token
            number += 1

    def _order_page(self, *, number: int, raw_orders: list[dict], last: bool) -> OrderPage:
        orders, unreadable = [], []
        for raw in raw_orders:
            try:
                orders.append((raw, self.parse_order(raw)))
            except PayloadError as exc:
                logger.warning("%s order on page %s not understood: %s", self.platform, number, exc)
                unreadable.append((raw, str(exc)))
        return OrderPage(number=number, orders=orders, last=last, unreadable=unreadable)

    def fetch_numbered_page(self, *, start: datetime, end: datetime, page: Any) -> tuple[list[dict], int]:
        """One numbered page: its orders and the number of orders in the whole window."""
        body = self.call(self.build_order_page_request(start=start, end=end, token=page))
        return self.parse_order_page(body, token=page)

    def fetch_order_page(self, *, start: datetime, end: datetime, token: Any) -> tuple[list[dict], Any]:
        """Cursor paging: one page's orders and the next cursor (None after the last page)."""
        raise NotImplementedError

    def ship(self, *, platform_order_id: str, carrier: str, tracking_no: str) -> None:
        """Tell the platform an order shipped. Accepting the same shipment twice is fine."""
        self.call(
            self.build_ship_request(
                platform_order_id=platform_order_id,
                carrier_code=self.carrier_code(carrier),
                tracking_no=tracking_no,
            )
        )

    def push_stock(self, *, item: StockItem) -> None:
        """Set the sellable quantity of one SKU on the platform (a full value, not a delta)."""
        self.call(self.build_stock_request(item=item))

    def call(self, request: HttpCall) -> Any:
        """Make ``request`` with timeouts; retry transient failures a few times, then raise."""
        attempt = 0
        while True:
            try:
                return self._call_once(request)
            except TransientAdapterError as exc:
                if attempt >= self.retries:
                    raise
                attempt += 1
                logger.info("%s %s transient failure (%s); retry %s", self.platform, request.path, exc, attempt)
                time.sleep(settings.CHANNEL_HTTP_RETRY_DELAY_SECONDS * attempt)

    def _call_once(self, request: HttpCall) -> Any:
        url = f"{self.base_url}{request.path}"
        try:
            response = self.session.request(
                request.method,
                url,
                params=request.params,
                json=request.json,
                data=request.data,
                timeout=(min(self.timeout, 5), self.timeout),
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise TransientAdapterError(f"{type(exc).__name__} calling {request.path}", code="network") from exc
        if response.status_code in (429,) or response.status_code >= 500:
            raise TransientAdapterError(f"HTTP {response.status_code} from {request.path}", code="http")
        if response.status_code >= 400:
            raise PermanentAdapterError(f"HTTP {response.status_code} from {request.path}", code="http")
        try:
            body = response.json()
        except ValueError as exc:
            raise TransientAdapterError(f"unreadable answer from {request.path}", code="body") from exc
        self.check_response(body)
        return body

    def parse_order(self, raw: Any) -> NormalizedOrder:
        """One order document as the platform sends it, or PayloadError saying what is wrong."""
        if not isinstance(raw, dict):
            raise PayloadError(f"{self.platform} order is not a JSON object")
        try:
            return self.parse_payload(raw)
        except PayloadError:
            raise
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            raise PayloadError(f"{self.platform} order not understood: {type(exc).__name__} {exc}") from exc

    def platform_order_id_of(self, raw: Any) -> str:
        """The order id of a payload, even one that cannot be parsed ("" when there is none)."""
        value = raw.get(self.order_id_field) if isinstance(raw, dict) else None
        return "" if value in (None, "") else str(value)[:64]

    def shop_access_token(self) -> str:
        """The seller's access token stored on the shop. Without one, or past its expiry, no
        call can succeed and retrying cannot help: PermanentAdapterError (staff must
        authorize the shop again)."""
        token = self.shop.access_token
        if not token:
            raise PermanentAdapterError(f"shop {self.shop.code} has no access token", code="no_access_token")
        expires_at = self.shop.access_token_expires_at
        if expires_at is not None and expires_at <= timezone.now():
            raise PermanentAdapterError(
                f"the access token of shop {self.shop.code} expired at {expires_at.isoformat()}",
                code="access_token_expired",
            )
        return token

    def merge_stored(self, payload: dict, stored: dict) -> dict:
        """The payload to store when ``payload`` replaces ``stored`` (the raw order's payload
        so far): ``payload`` unless the platform keeps something of the stored one (JD keeps
        the refund applications it pulled separately)."""
        return payload

    def carrier_code(self, carrier: str) -> str:
        """Our carrier code to the platform's; unknown carriers are sent as they are."""
        return self.carrier_codes.get(carrier.lower(), carrier)

    # --- hooks -------------------------------------------------------------------------

    def first_page_token(self) -> Any:
        return 1

    def build_order_page_request(self, *, start: datetime, end: datetime, token: Any) -> HttpCall:
        raise NotImplementedError

    def parse_order_page(self, body: Any, *, token: Any) -> tuple[list[dict], int]:
        """A numbered page's answer -> (its order documents, the window's total)."""
        raise NotImplementedError

    def parse_payload(self, raw: dict) -> NormalizedOrder:
        """The platform's order document -> NormalizedOrder; may raise KeyError and the like."""
        raise NotImplementedError

    def build_ship_request(self, *, platform_order_id: str, carrier_code: str, tracking_no: str) -> HttpCall:
        raise NotImplementedError

    def build_stock_request(self, *, item: StockItem) -> HttpCall:
        raise NotImplementedError

    def check_response(self, body: Any) -> None:
        """Raise an AdapterError when a 200 answer carries a platform error."""
