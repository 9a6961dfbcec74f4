"""Report writes: build (or rebuild) a day's or an ISO week's ``OrderReport``."""

from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from apps.orders.models import OrderReport
from apps.orders.reports.selectors import period_bounds, report_figures


def report_build(*, period: str, day: date, actor: str) -> OrderReport:
    """Compute the figures of the day or ISO week containing ``day`` and store them,
    replacing any earlier build of the same period (idempotent: same data, same row).

    Concurrent builds of one period (the beat job and an admin's rebuild): the row is first
    made to exist with ``INSERT IGNORE`` in its own statement, then updated under a row
    lock. Creating it through a locking read instead lets two builders each hold a shared
    lock on the duplicate key and deadlock on the upgrade (seen on MariaDB).
    """
    first, last = period_bounds(period, day)
    values = {**report_figures(first=first, last=last), "end": last, "built_at": timezone.now(), "built_by": actor[:64]}
    OrderReport.objects.bulk_create([OrderReport(period=period, start=first, **values)], ignore_conflicts=True)
    with transaction.atomic():
        report = OrderReport.objects.select_for_update().get(period=period, start=first)
        for name, value in values.items():
            setattr(report, name, value)
        report.save()
    return report


def reports_build_recent(*, today: date, actor: str) -> list[OrderReport]:
    """The beat job: yesterday and today, and the week of each (the week just ended is
    completed on Monday, this week is refreshed as it goes)."""
    yesterday = today - timedelta(days=1)
    reports = [report_build(period=OrderReport.Period.DAY, day=day, actor=actor) for day in (yesterday, today)]
    weeks = {period_bounds(OrderReport.Period.WEEK, day)[0] for day in (yesterday, today)}
    reports += [report_build(period=OrderReport.Period.WEEK, day=week, actor=actor) for week in sorted(weeks)]
    return reports
