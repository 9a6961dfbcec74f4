"""``manage.py build_reports``: build yesterday's and today's reports and their weeks (the
beat job's work), or backfill ``--from``/``--to`` days. Rebuilding replaces."""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.orders.models import OrderReport
from apps.orders.reports.selectors import period_bounds
from apps.orders.reports.services import report_build, reports_build_recent

ACTOR = "system:build_reports"


class Command(BaseCommand):
    help = "Build the daily and weekly order reports (yesterday, today and their weeks, or a date range)."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="first", type=date.fromisoformat, help="First day (YYYY-MM-DD).")
        parser.add_argument("--to", dest="last", type=date.fromisoformat, help="Last day (YYYY-MM-DD).")

    def handle(self, *args, first=None, last=None, **options):
        if first is None and last is None:
            reports = reports_build_recent(today=timezone.localdate(), actor=ACTOR)
        else:
            first = first or last
            last = last or first
            if first > last:
                raise CommandError("--from must not be after --to.")
            days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
            weeks = sorted({period_bounds(OrderReport.Period.WEEK, day)[0] for day in days})
            reports = [report_build(period=OrderReport.Period.DAY, day=day, actor=ACTOR) for day in days]
            reports += [report_build(period=OrderReport.Period.WEEK, day=week, actor=ACTOR) for week in weeks]
        for report in reports:
            self.stdout.write(f"{report.period} {report.start}: {report.orders_count} orders, GMV {report.gmv}")
