"""The admin reports dashboard and CSV export."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission

from apps.inventory.models import Sku
from apps.orders.models import Order, OrderReport
from apps.orders.reports.services import report_build
from tests.orders.reports.conftest import MONDAY

pytestmark = pytest.mark.django_db
DASHBOARD = "/admin/orders/orderreport/dashboard/"
EXPORT = "/admin/orders/orderreport/export.csv"
RANGE = {"period": "day", "first": "2025-03-09", "last": "2025-03-11"}


@pytest.fixture
def built(known_week):
    for day in (9, 10, 11):
        report_build(period="day", day=MONDAY.replace(day=day), actor="test")
    return known_week


def test_dashboard_shows_charts_from_local_static_and_the_figures(admin_client, built):
    response = admin_client.get(DASHBOARD, RANGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/vendor/chartjs/chart.umd.js" in html
    assert 'src="http' not in html and 'src="//' not in html
    chart = response.context["chart"]
    assert chart["labels"] == ["2025-03-09", "2025-03-10", "2025-03-11"]
    assert chart["gmv"] == ["0.00", "359.91", "10.00"]
    # the latest day (Tuesday) in the shop chart: only the Tmall shop sold (o5, 10.00)
    assert chart["shopGmv"] == ["10.00"]
    totals = response.context["totals"]
    # created: o2 on Sunday, o1, o3, o4 on Monday, o5 on Tuesday
    assert (totals["orders"], str(totals["gmv"])) == (5, "369.91")


def export_rows(admin_client) -> list[dict]:
    response = admin_client.get(EXPORT, RANGE)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    header, *rows = csv.reader(io.StringIO(response.content.decode("utf-8-sig")))
    return [dict(zip(header, row, strict=True)) for row in rows]


def pick(rows: list[dict], section: str, *columns: str, day: str = "2025-03-10") -> list[tuple]:
    return [tuple(row[c] for c in columns) for row in rows if row["section"] == section and row["start"] == day]


def test_csv_export_has_the_totals_and_every_section_of_the_dashboard(admin_client, built):
    rows = export_rows(admin_client)
    money = ("orders_count", "paid_orders_count", "gmv", "paid_amount", "refunded_amount")

    # Monday (Shanghai): created o1, o3, o4; paid o1 100.00 (30.00 refunded), o2 59.90, o3 200.01;
    # shipped o3 after 2 h, o1 after 10 h, o6 after 48 h
    assert pick(rows, "total", *money, "average_order_value", "shipped_count", "ship_seconds_p50") == [
        ("3", "3", "359.91", "359.91", "30.00", "119.97", "3", "36000")
    ]
    assert sorted(pick(rows, "shop", "shop_code", "shop_name", "platform", *money)) == [
        ("jd-store", built["jd"].name, "jd", "2", "1", "200.01", "200.01", "0.00"),
        ("tm-flagship", built["tmall"].name, "tmall", "1", "2", "159.90", "159.90", "30.00"),
    ]
    assert pick(rows, "platform", "platform", "shop_code", *money) == [
        ("jd", "", "2", "1", "200.01", "200.01", "0.00"),
        ("tmall", "", "1", "2", "159.90", "159.90", "30.00"),
    ]
    # status counts of Monday's orders as they are in the database
    created = Order.objects.filter(order_no__in=[built[o].order_no for o in ("o1", "o3", "o4")])
    expected = sorted((s, str(created.filter(status=s).count())) for s in set(created.values_list("status", flat=True)))
    assert expected == [("pending_payment", "1"), ("shipped", "2")]
    assert sorted(pick(rows, "status", "status", "orders_count")) == expected
    # lines of the orders paid on Monday: X 2 for 60.00 (o1), Y 1 + 3 for 40.00 + 200.01, Z 5 for 59.90
    names = dict(Sku.objects.values_list("code", "name"))
    assert pick(rows, "top_sku_by_quantity", "sku_code", "sku_name", "quantity", "amount") == [
        ("Z", names["Z"], "5", "59.90"),
        ("Y", names["Y"], "4", "240.01"),
        ("X", names["X"], "2", "60.00"),
    ]
    assert pick(rows, "top_sku_by_amount", "sku_code", "amount") == [("Y", "240.01"), ("X", "60.00"), ("Z", "59.90")]
    # a section row carries only its own figures
    (status_row,) = [r for r in rows if r["section"] == "status" and r["status"] == "pending_payment"]
    assert (status_row["gmv"], status_row["sku_code"], status_row["shop_code"]) == ("", "", "")


def test_csv_export_of_a_day_with_nothing_paid_lists_no_skus(admin_client, built):
    rows = export_rows(admin_client)
    # Sunday: o2 was created (paid on Monday): one created order, nothing paid
    assert [row["section"] for row in rows if row["start"] == "2025-03-09"] == ["total", "shop", "platform", "status"]
    assert pick(rows, "total", "orders_count", "gmv", day="2025-03-09") == [("1", "0.00")]


def test_bad_range_is_refused(admin_client):
    response = admin_client.get(EXPORT, {"period": "day", "first": "2025-03-11", "last": "2025-03-01"})
    assert response.status_code == 400
    assert (
        admin_client.get(DASHBOARD, {"period": "day", "first": "2025-03-11", "last": "2025-03-01"}).status_code == 200
    )


def test_staff_without_the_view_permission_cannot_open_reports(client, django_user_model):
    user = django_user_model.objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(user)
    assert client.get(DASHBOARD).status_code == 403
    assert client.get(EXPORT).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_orderreport"))
    assert client.get(EXPORT).status_code == 200


def test_rebuild_action_recomputes_the_selected_reports(admin_client, built):
    report = OrderReport.objects.get(period="day", start=MONDAY)
    Order.objects.filter(pk=built["o1"].pk).update(refunded_amount="100.00")
    response = admin_client.post(
        "/admin/orders/orderreport/", {"action": "rebuild", "_selected_action": [report.pk]}, follow=True
    )
    assert response.status_code == 200
    report.refresh_from_db()
    assert str(report.refunded_amount) == "100.00"
    assert report.built_by == "admin:admin"


def test_report_list_links_to_the_dashboard(admin_client, built):
    html = admin_client.get("/admin/orders/orderreport/").content.decode()
    assert DASHBOARD in html


def test_csv_export_keeps_names_a_spreadsheet_would_run_as_formulas_as_text(admin_client, known_week):
    shop = known_week["jd"]
    shop.name = '=HYPERLINK("http://evil.example","点我")'
    shop.save(update_fields=["name"])
    report_build(period="day", day=MONDAY, actor="test")

    rows = export_rows(admin_client)

    names = [row["shop_name"] for row in rows if row["section"] == "shop" and row["shop_code"] == "jd-store"]
    assert names == ["'" + shop.name]
    assert all(not row["gmv"].startswith("'") for row in rows)
