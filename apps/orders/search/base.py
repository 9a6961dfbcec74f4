"""The search contract: what a caller asks (``OrderQuery``), what it gets (``SearchResult``),
and what every backend implements (``SearchBackend``).

A backend answers with order numbers only; callers load the orders from the database, so
the database always decides what an order looks like and only the *matching* is delegated.
Cursors are opaque to callers: a backend tag plus the last row's sort key (keyset paging),
so a page never shifts when orders arrive while someone pages.
"""

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _

from apps.core.exceptions import ApplicationError
from apps.orders.search.error_codes import SearchErrorCode

# Public sort names -> the order field they sort on; a leading "-" means newest/largest first.
SORT_FIELDS = {
    "created_at": "created_at",
    "payable_amount": "payable_amount",
}
SORTS = tuple(name for key in SORT_FIELDS for name in (key, f"-{key}"))
DEFAULT_SORT = "-created_at"
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class OrderQuery:
    """Every filter is optional; filters combine with AND, ``statuses`` with OR among themselves.

    ``q`` is the free-text box: an exact order number, platform order id, phone, buyer id or
    SKU code, or words of a product name.
    """

    q: str = ""
    order_no: str = ""
    platform_order_id: str = ""
    phone: str = ""
    buyer_id: str = ""
    statuses: tuple[str, ...] = ()
    shop_id: int | None = None
    warehouse_id: int | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    sku_code: str = ""
    product_name: str = ""
    sort: str = DEFAULT_SORT
    cursor: str = ""
    size: int = 20

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ApplicationError(
                SearchErrorCode.INVALID_SORT,
                _("Unknown sort %(sort)s.") % {"sort": self.sort},
                {"allowed": list(SORTS)},
            )
        if not 1 <= self.size <= MAX_PAGE_SIZE:
            raise ApplicationError(
                SearchErrorCode.INVALID_SIZE,
                _("Page size must be between 1 and %(max)s.") % {"max": MAX_PAGE_SIZE},
            )

    @property
    def sort_field(self) -> str:
        return SORT_FIELDS[self.sort.lstrip("-")]

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")


@dataclass(frozen=True)
class SearchResult:
    order_nos: list[str]
    next_cursor: str | None
    total: int
    backend: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class SearchBackend:
    """Implemented by ``DatabaseBackend`` and ``ElasticsearchBackend``."""

    name = ""

    def search(self, query: OrderQuery) -> SearchResult:
        raise NotImplementedError

    def index(self, order_nos: Iterable[str]) -> int:
        """Bring the index up to date for these orders (deleted ones are removed)."""
        raise NotImplementedError

    def delete(self, order_nos: Iterable[str]) -> int:
        raise NotImplementedError

    def ping(self) -> None:
        """Raise if the backend cannot answer (used by /readyz)."""
        raise NotImplementedError


def encode_cursor(backend: str, key: list) -> str:
    raw = json.dumps({"b": backend, "k": key}, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_data(cursor: str) -> dict:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError(cursor)
    return data


def cursor_backend(cursor: str) -> str:
    """Which backend issued ``cursor`` ("" when it cannot be read)."""
    try:
        return str(_cursor_data(cursor).get("b", ""))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return ""


def decode_cursor(backend: str, cursor: str) -> list:
    """The sort key a cursor carries, or ``invalid_cursor`` (400) if it is not this backend's."""
    try:
        data = _cursor_data(cursor)
        key = data["k"]
        if data["b"] != backend or not isinstance(key, list) or len(key) != 2:
            raise ValueError(cursor)
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise invalid_cursor() from exc
    return key


def invalid_cursor() -> ApplicationError:
    return ApplicationError(
        SearchErrorCode.INVALID_CURSOR, _("The cursor is invalid or has expired; start from the first page.")
    )
