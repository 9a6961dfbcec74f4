"""Beat's schedule: defined in code, visible in the admin, and staff changes survive a restart."""

import pytest
from celery.schedules import schedule
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from apps.core.beat import DatabaseScheduler
from oms.celery import app

# The scheduler commits on its own (it reads changes other processes made): no wrapping transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def start_beat() -> None:
    DatabaseScheduler(app=app)


def test_every_job_in_code_is_listed_in_the_admin(admin_client):
    start_beat()
    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert set(app.conf.beat_schedule) <= names
    assert {"inventory.low_stock_scan", "inventory.hot_sku_gate_sync", "core.outbox_relay"} <= names
    response = admin_client.get("/admin/django_celery_beat/periodictask/")
    assert response.status_code == 200
    assert "inventory.low_stock_scan" in response.content.decode()


def test_staff_changes_survive_a_restart_and_untouched_jobs_follow_the_code(monkeypatch):
    start_beat()
    scan = PeriodicTask.objects.get(name="inventory.low_stock_scan")
    scan.interval, _ = IntervalSchedule.objects.get_or_create(every=900, period=IntervalSchedule.SECONDS)
    scan.save()
    relay = PeriodicTask.objects.get(name="core.outbox_relay")
    relay.enabled = False
    relay.save()
    changed = dict(app.conf.beat_schedule)
    changed["inventory.hot_sku_gate_sync"] = {**changed["inventory.hot_sku_gate_sync"], "schedule": schedule(45.0)}
    monkeypatch.setitem(app.conf, "beat_schedule", changed)

    start_beat()

    scan.refresh_from_db()
    assert (scan.interval.every, scan.interval.period) == (900, IntervalSchedule.SECONDS)
    relay.refresh_from_db()
    assert relay.enabled is False
    sync = PeriodicTask.objects.get(name="inventory.hot_sku_gate_sync")
    assert (sync.interval.every, sync.interval.period) == (45, IntervalSchedule.SECONDS)
