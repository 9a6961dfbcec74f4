"""Report writes: build (or rebuild) a day's or an ISO week's ``OrderReport``, and the beat
job that keeps every report equal to the orders as they change."""

from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from apps.core.replicas import replica_reads
from apps.orders.models import Order, OrderReport
from apps.orders.reports.selectors import period_bounds, report_figures

# A change committed after the job read the orders may carry an ``updated_at`` slightly
# before the job started (the save happened before the commit, clocks of two hosts differ):
# each run looks this far behind the previous run's start, so it is rebuilt again.
CHANGE_MARGIN = timedelta(minutes=15)
# With no finished run to start from (first run, or the job was off for more than a day)
# the job rebuilds the days of every order changed within this window.
CATCH_UP = timedelta(days=35)


def report_build(*, period: str, day: date, actor: str, built_at: datetime | None = None) -> OrderReport:
    """Compute the figures of the day or ISO week containing ``day`` and store them,
    replacing any earlier build of the same period (idempotent: same data, same row).

    Concurrent builds of one period (the beat job and an admin's rebuild): the row is first
    made to exist with ``INSERT IGNORE`` in its own statement, then updated under a row
    lock. Creating it through a locking read instead lets two builders each hold a shared
    lock on the duplicate key and deadlock on the upgrade (seen on MariaDB).
    """
    first, last = period_bounds(period, day)
    with replica_reads(despite_own_writes=True):
        figures = report_figures(first=first, last=last)
    values = {
        **figures,
        "end": last,
        "built_at": built_at or timezone.now(),
        "built_by": actor[:64],
    }
    OrderReport.objects.bulk_create([OrderReport(period=period, start=first, **values)], ignore_conflicts=True)
    with transaction.atomic():
        report = OrderReport.objects.select_for_update().get(period=period, start=first)
        for name, value in values.items():
            setattr(report, name, value)
        report.save()
    return report


def reports_build_recent(*, today: date, actor: str) -> list[OrderReport]:
    """The beat job: rebuild every day (and its week) whose figures may have changed since
    the job's last run, then yesterday and today.

    An order counts on the day it was created (orders, by status), paid (money, top SKUs)
    and shipped (shipping times); every change to it (a refund two weeks later, a status
    change) bumps its ``updated_at``, so the days of the orders changed since the last run
    are the days to rebuild. All reports of a run carry the run's start as ``built_at``;
    yesterday and today are built last, today at the very end, so their ``built_at`` tells
    the next run where to continue: a run that dies half-way leaves the older mark in place
    and its work is done again.
    """
    started = timezone.now()
    yesterday = today - timedelta(days=1)
    changed = _days_changed_since(_last_run_start(today=today, actor=actor), now=started) - {yesterday, today}
    weeks = {period_bounds(OrderReport.Period.WEEK, day)[0] for day in (*changed, yesterday, today)}
    plan = [(OrderReport.Period.DAY, day) for day in sorted(changed)]
    plan += [(OrderReport.Period.WEEK, week) for week in sorted(weeks)]
    plan += [(OrderReport.Period.DAY, yesterday), (OrderReport.Period.DAY, today)]
    return [report_build(period=period, day=day, actor=actor, built_at=started) for period, day in plan]


def _last_run_start(*, today: date, actor: str) -> datetime | None:
    """The start of the last run that got as far as building yesterday or today."""
    return (
        OrderReport.objects.filter(
            period=OrderReport.Period.DAY, start__in=(today - timedelta(days=1), today), built_by=actor[:64]
        )
        .order_by("-start")
        .values_list("built_at", flat=True)
        .first()
    )


def _days_changed_since(since: datetime | None, *, now: datetime) -> set[date]:
    """Shanghai days on which an order changed since ``since`` was created, paid or shipped."""
    since = since - CHANGE_MARGIN if since else now - CATCH_UP
    days = set()
    rows = Order.objects.filter(updated_at__gte=since).values_list("created_at", "paid_at", "shipped_at")
    for row in rows.iterator(chunk_size=2000):
        days.update(timezone.localdate(moment) for moment in row if moment is not None)
    return days
