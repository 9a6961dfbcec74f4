"""The admin reports dashboard and CSV export."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission

from apps.orders.models import Order, OrderReport
from apps.orders.reports.services import report_build
from tests.reports.conftest import MONDAY

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


def test_csv_export_has_a_row_per_day_and_per_shop(admin_client, built):
    response = admin_client.get(EXPORT, RANGE)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:6] == ["period", "start", "end", "orders_count", "paid_orders_count", "gmv"]
    monday = [row for row in rows[1:] if row[1] == "2025-03-10"]
    assert monday[0][:9] == ["day", "2025-03-10", "2025-03-10", "3", "3", "359.91", "359.91", "30.00", "119.97"]
    assert sorted((row[13], row[5]) for row in monday[1:]) == [("jd-store", "200.01"), ("tm-flagship", "159.90")]


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
