"""The provider strategy: what the payment services need from WeChat Pay, Alipay or any other.

Implementations speak the provider's real protocol over HTTP (``requests``) to a configurable
gateway URL; pointing them at the real gateway is configuration only. They raise
``ProviderUnavailable`` for transient trouble (network, 5xx, 429 rate limiting: retry later), ``ProviderRefused``
for a business answer (trade not found, already paid: do not retry the same call) and
``SignatureInvalid`` / ``NotificationInvalid`` for callbacks that must not be trusted.
"""

import abc
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


class ProviderUnavailable(Exception):
    """Transient: the network, a timeout, a 5xx, rate limiting (429) or an unsigned/garbled answer. Retry later."""


class ProviderRefused(Exception):
    """The provider answered with a business error (``code`` is the provider's own)."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class SignatureInvalid(Exception):
    """A callback whose signature, timestamp or key does not check out: answered 401."""


class NotificationInvalid(Exception):
    """A correctly signed callback we cannot accept (another merchant, unreadable resource)."""


class TradeState:
    PAID = "paid"
    PENDING = "pending"
    CLOSED = "closed"
    FAILED = "failed"
    NOT_FOUND = "not_found"


class RefundState:
    SUCCEEDED = "succeeded"
    PROCESSING = "processing"
    FAILED = "failed"
    NOT_FOUND = "not_found"  # a query: the provider never received the refund request (send it again)


@dataclass(frozen=True)
class TradeResult:
    """A payment as the provider sees it (from a callback or a query)."""

    out_trade_no: str
    state: str
    amount: Decimal | None = None
    transaction_id: str = ""
    paid_at: datetime | None = None
    raw: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RefundResult:
    reference: str  # our out_refund_no / out_request_no
    state: str
    refund_id: str = ""
    amount: Decimal | None = None
    raw: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Notification:
    """A verified, decoded callback: about a payment or about a refund."""

    event_type: str
    out_trade_no: str
    trade: TradeResult | None = None
    refund: RefundResult | None = None


@dataclass(frozen=True)
class Reply:
    """What the callback endpoint answers, in the provider's expected form."""

    status: int
    body: str
    content_type: str


@dataclass(frozen=True)
class StatementRow:
    kind: str  # "payment" | "refund"
    out_trade_no: str
    amount: Decimal
    status: str
    transaction_id: str = ""
    refund_reference: str = ""
    occurred_at: datetime | None = None
    raw: dict = field(default_factory=dict)


class PaymentProvider(abc.ABC):
    name: str

    @abc.abstractmethod
    def create_payment(
        self, *, out_trade_no: str, amount: Decimal, description: str, notify_url: str, expires_at: datetime
    ) -> dict:
        """Open the trade at the provider; returns what the buyer's client needs (code_url, qr_code).

        ``expires_at`` is the order's payment deadline: the provider stops taking money for the
        trade then, even if our close never reaches it."""

    @abc.abstractmethod
    def parse_notification(self, *, headers: dict[str, str], body: bytes) -> Notification:
        """Verify and decode a callback, or raise SignatureInvalid / NotificationInvalid."""

    @abc.abstractmethod
    def query_payment(self, *, out_trade_no: str) -> TradeResult: ...

    @abc.abstractmethod
    def close_payment(self, *, out_trade_no: str) -> None:
        """Close an unpaid trade; raises ProviderRefused(ALREADY_PAID) when the buyer already paid."""

    @abc.abstractmethod
    def refund(
        self, *, out_trade_no: str, reference: str, amount: Decimal, total: Decimal, reason: str, notify_url: str
    ) -> RefundResult: ...

    @abc.abstractmethod
    def query_refund(self, *, out_trade_no: str, reference: str) -> RefundResult: ...

    @abc.abstractmethod
    def fetch_statement(self, *, bill_date: date) -> bytes: ...

    @abc.abstractmethod
    def parse_statement(self, data: bytes) -> list[StatementRow]:
        """Parse the provider's daily statement (CSV in its own format)."""

    @abc.abstractmethod
    def reply_ok(self) -> Reply: ...

    @abc.abstractmethod
    def reply_fail(self, message: str, *, status: int) -> Reply: ...


ALREADY_PAID = "already_paid"
