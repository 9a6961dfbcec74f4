"""Reports in the admin: the ``OrderReport`` list (read-only, with a rebuild action), the
dashboard page with charts (Chart.js from ``static/vendor/chartjs``, no CDN; templates in
``apps/orders/templates/admin/orders/orderreport/`` so their strings reach the orders catalogue) and a CSV
export. The dashboard is linked from the report list, which the admin index lists under
Orders. Both pages only read; rebuilding calls ``report_build``.
"""

import csv
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.exceptions import ApplicationError
from apps.core.replicas import replica_reads
from apps.orders.models import OrderReport, OrderStatus
from apps.orders.reports.selectors import report_csv_rows, report_list, ship_hours
from apps.orders.reports.services import report_build

DEFAULT_SPAN = {OrderReport.Period.DAY: 30, OrderReport.Period.WEEK: 12 * 7}
MAX_SPAN_DAYS = 400


# A cell starting with one of these is a formula to Excel and WPS (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """Text a platform wrote (shop and product names) that a spreadsheet would run as a
    formula gets a leading apostrophe; numbers, including negative ones, stay numbers."""
    if not isinstance(value, str) or not value.startswith(FORMULA_PREFIXES):
        return value
    try:
        Decimal(value)
    except InvalidOperation:
        return "'" + value
    return value


class ReportRangeForm(forms.Form):
    period = forms.ChoiceField(label=_("Period"), choices=OrderReport.Period.choices, required=False)
    first = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    last = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        period = data.get("period") or OrderReport.Period.DAY
        last = data.get("last") or timezone.localdate()
        first = data.get("first") or last - timedelta(days=DEFAULT_SPAN[period] - 1)
        if first > last:
            raise forms.ValidationError(_("The first day must not be after the last day."))
        if (last - first).days > MAX_SPAN_DAYS:
            raise forms.ValidationError(_("Choose at most %(days)s days.") % {"days": MAX_SPAN_DAYS})
        return {"period": period, "first": first, "last": last}


@admin.register(OrderReport)
class OrderReportAdmin(admin.ModelAdmin):
    change_list_template = "admin/orders/orderreport/change_list.html"
    list_display = (
        "period",
        "start",
        "end",
        "orders_count",
        "paid_orders_count",
        "gmv",
        "paid_amount",
        "refunded_amount",
        "average_order_value",
        "built_at",
    )
    list_filter = ("period",)
    date_hierarchy = "start"
    actions = ["rebuild"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Rebuild the selected reports from the orders"), permissions=["view"])
    def rebuild(self, request, queryset):
        actor = f"admin:{request.user.get_username()}"
        rebuilt = 0
        for report in queryset:
            try:
                report_build(period=report.period, day=report.start, actor=actor)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return
            rebuilt += 1
        self.message_user(request, _("%(count)s report(s) rebuilt.") % {"count": rebuilt}, messages.SUCCESS)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("dashboard/", view(self.dashboard_view), name="orders_orderreport_dashboard"),
            path("export.csv", view(self.export_view), name="orders_orderreport_export"),
            *super().get_urls(),
        ]

    def _range(self, request) -> tuple[ReportRangeForm, dict | None]:
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = ReportRangeForm(request.GET or None)
        if not request.GET:
            form = ReportRangeForm({"period": OrderReport.Period.DAY})
        return form, form.cleaned_data if form.is_valid() else None

    def dashboard_view(self, request):
        form, chosen = self._range(request)
        reports = list(report_list(**chosen)) if chosen else []
        latest = reports[-1] if reports else None
        statuses = dict(OrderStatus.choices)
        chart = {
            "labels": [report.start.isoformat() for report in reports],
            "gmv": [str(report.gmv) for report in reports],
            "paid": [str(report.paid_amount) for report in reports],
            "refunded": [str(report.refunded_amount) for report in reports],
            "orders": [report.orders_count for report in reports],
            "paidOrders": [report.paid_orders_count for report in reports],
            "shipP50": [str(ship_hours(report.ship_seconds_p50) or "") for report in reports],
            "shipP90": [str(ship_hours(report.ship_seconds_p90) or "") for report in reports],
            "shops": [f"{row['shop_code'] or '-'} ({row['platform']})" for row in latest.by_shop] if latest else [],
            "shopGmv": [row["gmv"] for row in latest.by_shop] if latest else [],
            "statuses": [str(statuses.get(name, name)) for name in latest.by_status] if latest else [],
            "statusCounts": list(latest.by_status.values()) if latest else [],
            "labelsText": {
                "gmv": str(_("GMV")),
                "paid": str(_("Paid")),
                "refunded": str(_("Refunded")),
                "orders": str(_("Orders created")),
                "paidOrders": str(_("Orders paid")),
                "p50": str(_("Median hours to ship")),
                "p90": str(_("90th percentile hours to ship")),
            },
        }
        totals = None
        if reports:
            totals = {
                "orders": sum(r.orders_count for r in reports),
                "paid_orders": sum(r.paid_orders_count for r in reports),
                "gmv": sum((r.gmv for r in reports), Decimal("0.00")),
                "paid": sum((r.paid_amount for r in reports), Decimal("0.00")),
                "refunded": sum((r.refunded_amount for r in reports), Decimal("0.00")),
            }
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Order reports dashboard"),
            "form": form,
            "reports": reports,
            "latest": latest,
            "latest_ship": {
                "avg": ship_hours(latest.ship_seconds_avg),
                "p50": ship_hours(latest.ship_seconds_p50),
                "p90": ship_hours(latest.ship_seconds_p90),
            }
            if latest
            else None,
            "totals": totals,
            "chart": chart,
            "export_query": request.GET.urlencode(),
        }
        return TemplateResponse(request, "admin/orders/orderreport/dashboard.html", context)

    def export_view(self, request):
        form, chosen = self._range(request)
        if chosen is None:
            return HttpResponse(
                "; ".join(str(e) for errors in form.errors.values() for e in errors),
                status=400,
                content_type="text/plain",
            )
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        filename = f"order-reports-{chosen['period']}-{chosen['first']}-{chosen['last']}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response.write("\ufeff")  # Excel opens UTF-8 (Chinese shop names) only with a BOM
        writer = csv.writer(response)
        with replica_reads():
            for row in report_csv_rows(report_list(**chosen)):
                writer.writerow([spreadsheet_safe(value) for value in row])
        return response
