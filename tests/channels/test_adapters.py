"""Each adapter against the simulator: signing, paging, parsing, error mapping, write calls."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.channels.adapters import (
    NormalizedStatus,
    PermanentAdapterError,
    StockItem,
    TransientAdapterError,
    adapter_for,
)
from apps.channels.services.mappings import shop_set_app_secret
from apps.channels.services.tokens import shop_set_access_token
from tests.channels.conftest import platform_order

PLATFORMS = ["tmall", "jd", "douyin", "wechat"]

pytestmark = pytest.mark.django_db


def _window():
    now = timezone.now()
    return now - timedelta(hours=1), now


@pytest.mark.parametrize("platform", PLATFORMS)
def test_pages_over_the_window_and_parses_amounts(platform, make_shop, simulator):
    ps = make_shop(platform)
    for index in range(5):
        simulator.put_order(ps.shop.app_key, platform_order(ps, f"77{index}", minutes_ago=30 - index))
    simulator.put_order(ps.shop.app_key, platform_order(ps, "old", minutes_ago=120))
    adapter = adapter_for(ps.shop)
    adapter.page_size = 2
    start, end = _window()

    pages = list(adapter.fetch_orders(start=start, end=end))

    by_number = sorted(pages, key=lambda page: page.number)
    assert [len(page.orders) for page in by_number] == [2, 2, 1]
    ids = [normalized.platform_order_id for page in by_number for _raw, normalized in page.orders]
    assert ids == ["770", "771", "772", "773", "774"]
    # Numbered pages come last page first; a platform cursor is followed forwards.
    assert [page.number for page in pages] == ([1, 2, 3] if platform == "wechat" else [3, 2, 1])
    assert [page.last for page in pages] == [False, False, True]
    order = by_number[0].orders[0][1]
    # 2 x 59.00 - 1.00 line discount + 1 x 69.00 - 5.00 order discount + 8.00 shipping
    assert order.paid_amount == Decimal("189.00")
    assert order.total_amount == Decimal("187.00")
    assert order.shipping_fee == Decimal("8.00")
    # JD reports no per-line discounts: the line's 1.00 becomes part of the order discount.
    line_discount = Decimal("0.00") if platform == "jd" else Decimal("1.00")
    assert order.discount_amount == Decimal("6.00") - line_discount
    assert [(line.quantity, line.unit_price, line.discount_amount) for line in order.lines] == [
        (2, Decimal("59.00"), line_discount),
        (1, Decimal("69.00"), Decimal("0.00")),
    ]
    assert order.lines[0].outer_id == ps.skus[0].code
    assert order.status == NormalizedStatus.PAID
    assert order.recipient_phone == "13800138000"
    assert order.province == "浙江省"
    assert order.paid_at is not None


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_wrong_secret_is_refused_by_the_platform(platform, make_shop, simulator):
    ps = make_shop(platform)
    if platform == "wechat":  # WeChat needs the secret only to fetch a token when none is stored
        shop_set_access_token(shop=ps.shop, token="", expires_at=None, actor="test")
    shop_set_app_secret(shop=ps.shop, secret="not-the-secret", actor="test")
    start, end = _window()

    with pytest.raises(PermanentAdapterError):
        list(adapter_for(ps.shop).fetch_orders(start=start, end=end))


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_shop_access_token_is_sent_and_a_wrong_one_is_a_permanent_error(platform, make_shop, simulator, settings):
    """The simulator checks the signature over every parameter (TOP's session and JD's
    access_token included) before the token, so passing proves it is sent and signed."""
    ps = make_shop(platform)
    simulator.put_order(ps.shop.app_key, platform_order(ps, "31"))
    start, end = _window()
    settings.CHANNEL_HTTP_RETRIES = 3

    pages = list(adapter_for(ps.shop).fetch_orders(start=start, end=end))
    assert [o.platform_order_id for _raw, o in pages[0].orders] == ["31"]

    shop_set_access_token(shop=ps.shop, token="revoked-token", expires_at=None, actor="test")
    simulator.requests.clear()
    with pytest.raises(PermanentAdapterError):
        list(adapter_for(ps.shop).fetch_orders(start=start, end=end))
    assert len(simulator.requests) == 1  # refused once, not retried


@pytest.mark.parametrize(
    ("platform", "token", "expires_in", "code"),
    # (a WeChat shop without a stored token fetches one with its secret: tested below)
    [(platform, "", None, "no_access_token") for platform in ("tmall", "jd", "douyin")]
    + [(platform, "token-x", timedelta(minutes=-1), "access_token_expired") for platform in PLATFORMS],
)
def test_without_a_valid_access_token_nothing_is_sent(platform, token, expires_in, code, make_shop, simulator):
    ps = make_shop(platform)
    expires_at = timezone.now() + expires_in if expires_in else None
    shop_set_access_token(shop=ps.shop, token=token, expires_at=expires_at, actor="test")
    start, end = _window()

    with pytest.raises(PermanentAdapterError) as failure:
        list(adapter_for(ps.shop).fetch_orders(start=start, end=end))

    assert failure.value.code == code
    assert simulator.requests == []


def test_a_wechat_shop_without_a_stored_token_fetches_one_with_its_secret(make_shop, simulator):
    ps = make_shop("wechat", access_token="")
    simulator.put_order(ps.shop.app_key, platform_order(ps, "41"))
    start, end = _window()

    pages = list(adapter_for(ps.shop).fetch_orders(start=start, end=end))

    assert [o.platform_order_id for _raw, o in pages[0].orders] == ["41"]
    assert simulator.requests[0] == "/cgi-bin/token"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_transient_failures_are_retried_then_reported(platform, make_shop, simulator, settings):
    ps = make_shop(platform)
    simulator.put_order(ps.shop.app_key, platform_order(ps, "881"))
    start, end = _window()
    simulator.faults[platform].fail_next = 5
    simulator.faults[platform].mode = "platform"

    with pytest.raises(TransientAdapterError):
        list(adapter_for(ps.shop).fetch_orders(start=start, end=end))

    simulator.reset_faults(platform)
    simulator.faults[platform].fail_next = 1
    simulator.faults[platform].mode = "http500"
    settings.CHANNEL_HTTP_RETRIES = 1
    pages = list(adapter_for(ps.shop).fetch_orders(start=start, end=end))
    assert [o.platform_order_id for _raw, o in pages[0].orders] == ["881"]


def test_a_timeout_is_transient(make_shop, simulator, settings):
    ps = make_shop("douyin")
    settings.CHANNEL_HTTP_TIMEOUT_SECONDS = 0.3
    simulator.faults["douyin"].fail_next = 1
    simulator.faults["douyin"].mode = "timeout"
    simulator.faults["douyin"].timeout_seconds = 1.0
    start, end = _window()

    with pytest.raises(TransientAdapterError):
        list(adapter_for(ps.shop).fetch_orders(start=start, end=end))


@pytest.mark.parametrize(
    ("platform", "carrier_code"), [("tmall", "SF"), ("jd", "467"), ("douyin", "shunfeng"), ("wechat", "SF")]
)
def test_shipment_and_stock_reach_the_platform(platform, carrier_code, make_shop, simulator):
    ps = make_shop(platform)
    adapter = adapter_for(ps.shop)

    adapter.ship(platform_order_id="991", carrier="sf", tracking_no="SF1234567890")
    adapter.push_stock(
        item=StockItem(
            platform_sku_id=ps.sim_skus[0].platform_sku_id,
            outer_id="",
            platform_item_id=ps.sim_skus[0].item_id,
            quantity=42,
        )
    )

    sim_shop = simulator.shops[ps.shop.app_key]
    assert sim_shop.shipments == [{"order_id": "991", "carrier": carrier_code, "tracking_no": "SF1234567890"}]
    assert sim_shop.stock == {ps.sim_skus[0].platform_sku_id: 42}


def test_refund_requests_are_parsed(make_shop, simulator):
    ps = make_shop("tmall")
    raw = platform_order(ps, "5501", status="shipped", refund={"id": "RF-1", "sku_index": 1})

    order = adapter_for(ps.shop).parse_order(raw)

    assert order.status == NormalizedStatus.SHIPPED
    assert [(r.platform_refund_id, r.amount, r.platform_sku_ids) for r in order.refunds] == [
        ("RF-1", Decimal("69.00"), (ps.sim_skus[1].platform_sku_id,))
    ]


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("paid", NormalizedStatus.PAID),
        ("paid_cross_border", NormalizedStatus.PAID),
        ("locked", NormalizedStatus.LOCKED),
        ("paused", NormalizedStatus.LOCKED),
        ("shipped", NormalizedStatus.SHIPPED),
        ("cancelled", NormalizedStatus.CANCELLED),
    ],
)
def test_jd_order_states_follow_jos(state, expected, make_shop):
    """WAIT_SELLER_DELIVERY is a paid cross-border order; LOCKED / POP_ORDER_PAUSE are paid
    orders JD forbids shipping for now, not cancellations."""
    ps = make_shop("jd")

    order = adapter_for(ps.shop).parse_order(platform_order(ps, "J1", status=state))

    assert order.status == expected
    assert order.is_paid
