"""Report figures on a known data set; every expected number is worked out by hand below."""

from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.orders.models import Order, OrderReport
from apps.orders.reports.selectors import report_figures
from apps.orders.reports.services import report_build, reports_build_recent
from apps.orders.services import order_cancel, order_record_refund
from tests.orders.reports.conftest import MONDAY

pytestmark = pytest.mark.django_db


def test_daily_figures_match_the_orders_of_that_shanghai_day(known_week):
    report = report_build(period="day", day=MONDAY, actor="test")
    assert (report.start, report.end) == (MONDAY, MONDAY)
    # created on Monday: o1, o3, o4 (o2 is a second early)
    assert report.orders_count == 3
    assert report.by_status == {"pending_payment": 1, "shipped": 2}
    # paid on Monday: o1 100.00 + o2 59.90 + o3 200.01
    assert report.paid_orders_count == 3
    assert str(report.gmv) == "359.91"
    assert str(report.paid_amount) == "359.91"
    assert str(report.refunded_amount) == "30.00"
    # 359.91 / 3 = 119.97
    assert str(report.average_order_value) == "119.97"


def test_daily_breakdown_by_shop_and_platform(known_week):
    report = report_build(period="day", day=MONDAY, actor="test")
    jd, tmall = known_week["jd"], known_week["tmall"]
    assert report.by_shop == [
        {
            "shop_id": jd.id, "shop_code": "jd-store", "shop_name": jd.name, "platform": "jd",
            "orders": 2, "paid_orders": 1, "gmv": "200.01", "paid_amount": "200.01", "refunded_amount": "0.00",
        },
        {
            "shop_id": tmall.id, "shop_code": "tm-flagship", "shop_name": tmall.name, "platform": "tmall",
            "orders": 1, "paid_orders": 2, "gmv": "159.90", "paid_amount": "159.90", "refunded_amount": "30.00",
        },
    ]  # fmt: skip
    assert [(p["platform"], p["gmv"], p["orders"]) for p in report.by_platform] == [
        ("jd", "200.01", 2),
        ("tmall", "159.90", 1),
    ]


def test_top_skus_by_quantity_and_amount(known_week):
    report = report_build(period="day", day=MONDAY, actor="test")
    # X: 2 for 60.00 (o1); Y: 1 + 3 for 40.00 + 200.01 (o1, o3); Z: 5 for 59.90 (o2)
    assert [(r["sku_code"], r["quantity"], r["amount"]) for r in report.top_skus_by_quantity] == [
        ("Z", 5, "59.90"),
        ("Y", 4, "240.01"),
        ("X", 2, "60.00"),
    ]
    assert [r["sku_code"] for r in report.top_skus_by_amount] == ["Y", "X", "Z"]


def test_payment_to_shipment_times(known_week):
    report = report_build(period="day", day=MONDAY, actor="test")
    # shipped on Monday: o3 after 2 h, o1 after 10 h, o6 after 48 h
    assert report.shipped_count == 3
    assert report.ship_seconds_avg == (2 + 10 + 48) * 3600 // 3
    assert report.ship_seconds_p50 == 10 * 3600
    assert report.ship_seconds_p90 == 48 * 3600


def test_weekly_figures_cover_monday_to_sunday(known_week):
    report = report_build(period="week", day=MONDAY + timedelta(days=3), actor="test")
    assert (report.start, report.end) == (MONDAY, date(2025, 3, 16))
    # created: o1, o3, o4, o5; paid: o1, o2, o3, o5
    assert report.orders_count == 4
    assert report.paid_orders_count == 4
    assert str(report.gmv) == "369.91"
    # 369.91 / 4 = 92.4775 -> 92.48
    assert str(report.average_order_value) == "92.48"
    # shipped in the week: o1 10 h, o2 (paid Mon 00:05, shipped Tue 09:00) 32 h 55 min, o3 2 h, o6 48 h
    assert report.shipped_count == 4
    assert report.ship_seconds_p50 == 10 * 3600
    assert report.ship_seconds_p90 == 48 * 3600


def test_an_empty_day_has_zero_figures():
    report = report_build(period="day", day=date(2024, 1, 1), actor="test")
    assert (report.orders_count, report.paid_orders_count, str(report.gmv)) == (0, 0, "0.00")
    assert str(report.average_order_value) == "0.00"
    assert report.ship_seconds_p50 is None
    assert report.by_shop == []


def test_rebuild_replaces_the_report(known_week):
    report_build(period="day", day=MONDAY, actor="test")
    Order.objects.filter(pk=known_week["o3"].pk).update(refunded_amount="200.01")
    rebuilt = report_build(period="day", day=MONDAY, actor="system:beat")
    assert OrderReport.objects.filter(period="day", start=MONDAY).count() == 1
    assert str(rebuilt.refunded_amount) == "230.01"
    assert rebuilt.built_by == "system:beat"


def test_beat_job_builds_yesterday_today_and_their_weeks(known_week):
    next_monday = MONDAY + timedelta(days=7)
    reports = reports_build_recent(today=next_monday, actor="system:beat")
    # first run: the days of every recently changed order (8th..11th), their weeks, then
    # yesterday and today
    assert [(r.period, r.start.isoformat()) for r in reports] == [
        ("day", "2025-03-08"),
        ("day", "2025-03-09"),
        ("day", "2025-03-10"),
        ("day", "2025-03-11"),
        ("week", "2025-03-03"),
        ("week", "2025-03-10"),
        ("week", "2025-03-17"),
        ("day", "2025-03-16"),
        ("day", "2025-03-17"),
    ]
    # the week just ended is complete once Monday's job has run
    assert str(OrderReport.objects.get(period="week", start=MONDAY).gmv) == "369.91"


def _backdate_changes(hours: int = 2) -> None:
    Order.objects.update(updated_at=timezone.now() - timedelta(hours=hours))


def test_a_refund_days_later_reaches_the_report_of_the_day_it_was_paid(known_week):
    _backdate_changes()
    reports_build_recent(today=MONDAY, actor="system:beat")
    reports_build_recent(today=MONDAY + timedelta(days=1), actor="system:beat")
    assert str(OrderReport.objects.get(period="day", start=MONDAY).refunded_amount) == "30.00"

    # two days later the buyer of o3 (paid on Monday) gets 50.00 back
    order_record_refund(order_no=known_week["o3"].order_no, amount=Decimal("50.00"), actor="test", refund_id="R-1")
    reports_build_recent(today=MONDAY + timedelta(days=2), actor="system:beat")

    monday = OrderReport.objects.get(period="day", start=MONDAY)
    assert_equals_the_orders(monday)
    assert str(monday.refunded_amount) == "80.00"
    assert monday.by_shop[0]["shop_code"] == "jd-store"
    assert monday.by_shop[0]["refunded_amount"] == "50.00"
    assert str(OrderReport.objects.get(period="week", start=MONDAY).refunded_amount) == "80.00"


def assert_equals_the_orders(report: OrderReport) -> None:
    """Every figure of the stored report equals the figure computed from the orders now."""
    for name, value in report_figures(first=report.start, last=report.end).items():
        assert getattr(report, name) == value, name


def test_a_status_change_reaches_the_status_counts_of_the_day_created(known_week):
    _backdate_changes()
    reports_build_recent(today=MONDAY + timedelta(days=1), actor="system:beat")
    assert OrderReport.objects.get(period="day", start=MONDAY).by_status == {"pending_payment": 1, "shipped": 2}

    order_cancel(order_no=known_week["o4"].order_no, actor="test", reason="buyer asked")
    reports_build_recent(today=MONDAY + timedelta(days=3), actor="system:beat")

    assert OrderReport.objects.get(period="day", start=MONDAY).by_status == {"cancelled": 1, "shipped": 2}


def test_the_beat_job_rebuilds_only_days_changed_since_its_last_run(known_week):
    _backdate_changes()
    reports_build_recent(today=MONDAY + timedelta(days=1), actor="system:beat")
    saturday_built = OrderReport.objects.get(period="day", start=MONDAY - timedelta(days=2)).built_at

    order_record_refund(order_no=known_week["o1"].order_no, amount=Decimal("10.00"), actor="test", refund_id="R-2")
    reports = reports_build_recent(today=MONDAY + timedelta(days=1), actor="system:beat")

    # o1 was created, paid and shipped on Monday
    assert [(r.period, r.start.isoformat()) for r in reports] == [
        ("week", "2025-03-10"),
        ("day", "2025-03-10"),
        ("day", "2025-03-11"),
    ]
    assert OrderReport.objects.get(period="day", start=MONDAY - timedelta(days=2)).built_at == saturday_built
    assert str(OrderReport.objects.get(period="day", start=MONDAY).refunded_amount) == "40.00"


def test_build_reports_command_backfills_a_range(known_week):
    out = StringIO()
    call_command("build_reports", "--from", "2025-03-09", "--to", "2025-03-11", stdout=out)
    days = OrderReport.objects.filter(period="day").order_by("start")
    assert [d.start.isoformat() for d in days] == ["2025-03-09", "2025-03-10", "2025-03-11"]
    assert sorted(w.start.isoformat() for w in OrderReport.objects.filter(period="week")) == [
        "2025-03-03",
        "2025-03-10",
    ]
    assert str(days[2].gmv) == "10.00"


@pytest.mark.django_db(transaction=True)
def test_concurrent_builds_of_one_period_leave_one_report():
    import threading

    from django.db import connection

    errors, barrier = [], threading.Barrier(3)

    def build():
        try:
            barrier.wait()
            report_build(period="week", day=MONDAY, actor="thread")
        except Exception as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=build) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert OrderReport.objects.filter(period="week", start=MONDAY).count() == 1
