from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from apps.orders.models import Order
from tests.orders.search.factories import OrderFactory, ShopFactory, SkuFactory, add_line, set_created_at

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = date(2025, 3, 10)


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A Shanghai wall-clock time in March 2025."""
    return datetime(2025, 3, day, hour, minute, second, tzinfo=SHANGHAI)


def make_order(*, shop, created, payable, status="paid", paid=None, shipped=None, refunded="0.00", lines=()):
    order = OrderFactory(shop=shop, status=status, payable_amount=Decimal(payable), paid_at=paid, shipped_at=shipped)
    set_created_at(order, created)
    Order.objects.filter(pk=order.pk).update(
        paid_amount=Decimal(payable) if paid else Decimal("0.00"), refunded_amount=Decimal(refunded)
    )
    for sku, quantity, total in lines:
        add_line(order, sku=sku, quantity=quantity, unit_price=Decimal(total) / quantity)
    return order


@pytest.fixture
def known_week():
    """Orders around Monday 2025-03-10 (Asia/Shanghai), some exactly on the day's edges."""
    tmall, jd = ShopFactory(code="tm-flagship", platform="tmall"), ShopFactory(code="jd-store", platform="jd")
    x, y, z = SkuFactory(code="X"), SkuFactory(code="Y"), SkuFactory(code="Z")
    return {
        "tmall": tmall,
        "jd": jd,
        # created on the day's first second; paid, 30.00 refunded, shipped 10 h after payment
        "o1": make_order(
            shop=tmall,
            created=at(10),
            payable="100.00",
            status="shipped",
            paid=at(10, 0, 10),
            shipped=at(10, 10, 10),
            refunded="30.00",
            lines=[(x, 2, "60.00"), (y, 1, "40.00")],
        ),
        # created the second before (Sunday), paid on Monday, shipped Tuesday
        "o2": make_order(
            shop=tmall,
            created=at(9, 23, 59, 59),
            payable="59.90",
            paid=at(10, 0, 5),
            shipped=at(11, 9),
            status="shipped",
            lines=[(z, 5, "59.90")],
        ),
        # paid and shipped 2 h later
        "o3": make_order(
            shop=jd,
            created=at(10, 12),
            payable="200.01",
            status="shipped",
            paid=at(10, 12, 1),
            shipped=at(10, 14, 1),
            lines=[(y, 3, "200.01")],
        ),
        # created on the day's last second, never paid
        "o4": make_order(shop=jd, created=at(10, 23, 59, 59), payable="999.00", status="pending_payment"),
        # Tuesday: outside the day, inside the week
        "o5": make_order(shop=tmall, created=at(11), payable="10.00", paid=at(11, 9)),
        # paid the Saturday before, shipped Monday 08:00: 48 h
        "o6": make_order(
            shop=jd, created=at(8, 7), payable="88.00", status="shipped", paid=at(8, 8), shipped=at(10, 8)
        ),
    }
