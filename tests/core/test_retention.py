"""Retention jobs: old records that only tell what already happened are deleted in batches;
anything still to be worked on, or recent, stays. Every job is safe to run twice."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.channels.models import PullRun, RawOrder, StockPush
from apps.channels.tasks import channel_records_purge_task
from apps.core.models import IdempotencyKey, OutboxDelivery, OutboxEvent
from apps.core.tasks import idempotency_keys_purge_task, outbox_purge_task
from apps.payments.models import Payment, PaymentNotification
from apps.payments.tasks import payment_notifications_purge_task
from oms.celery import app
from tests.channels.factories import ShopFactory, SkuMappingFactory
from tests.payments.factories import PaymentFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def small_batches(settings):
    """Two rows a batch, so every purge below needs several batches."""
    settings.RETENTION_BATCH_SIZE = 2
    settings.OUTBOX_RETENTION_DAYS = 7
    settings.OUTBOX_FAILED_RETENTION_DAYS = 90
    settings.RAW_ORDER_RETENTION_DAYS = 90
    settings.PULL_RUN_RETENTION_DAYS = 30
    settings.STOCK_PUSH_RETENTION_DAYS = 30
    settings.PAYMENT_NOTIFICATION_RETENTION_DAYS = 365


def event(age: timedelta, *statuses: str) -> OutboxEvent:
    created = OutboxEvent.objects.create(topic="test.happened", aggregate_type="test", aggregate_id="1")
    OutboxEvent.objects.filter(pk=created.pk).update(created_at=timezone.now() - age)
    for n, status in enumerate(statuses):
        OutboxDelivery.objects.create(
            event=created, consumer=f"consumer{n}", status=status, next_attempt_at=timezone.now()
        )
    return created


def remaining(model, objects) -> set[int]:
    return set(model.objects.filter(pk__in=[o.pk for o in objects]).values_list("pk", flat=True))


def test_outbox_purge_keeps_what_is_pending_failed_or_recent():
    done, pending, failed = OutboxDelivery.Status.DELIVERED, OutboxDelivery.Status.PENDING, OutboxDelivery.Status.FAILED
    old_done = [event(10 * DAY, done, done) for _ in range(5)]
    old_half_pending = event(10 * DAY, done, pending)
    old_failed = event(10 * DAY, done, failed)
    very_old_failed = event(100 * DAY, failed)
    very_old_pending = event(100 * DAY, pending)
    recent_done = event(2 * DAY, done)

    assert outbox_purge_task() == {"delivered": 5, "failed": 1}

    kept = [old_half_pending, old_failed, very_old_pending, recent_done]
    assert remaining(OutboxEvent, [*old_done, very_old_failed, *kept]) == {e.pk for e in kept}
    assert not OutboxDelivery.objects.filter(event_id__in=[e.pk for e in [*old_done, very_old_failed]]).exists()
    assert OutboxDelivery.objects.filter(event=old_half_pending).count() == 2
    assert outbox_purge_task() == {"delivered": 0, "failed": 0}


def test_retention_of_zero_days_keeps_rows_for_ever(settings):
    settings.OUTBOX_RETENTION_DAYS = 0
    settings.OUTBOX_FAILED_RETENTION_DAYS = 0
    settings.PAYMENT_NOTIFICATION_RETENTION_DAYS = 0
    old = event(1000 * DAY, OutboxDelivery.Status.DELIVERED)
    notification = PaymentNotification.objects.create(provider="wechat", body="{}")
    PaymentNotification.objects.filter(pk=notification.pk).update(received_at=timezone.now() - 1000 * DAY)

    assert outbox_purge_task() == {"delivered": 0, "failed": 0}
    assert payment_notifications_purge_task() == 0
    assert OutboxEvent.objects.filter(pk=old.pk).exists()
    assert PaymentNotification.objects.filter(pk=notification.pk).exists()


def test_channel_records_purge_keeps_raw_orders_still_to_convert():
    shop = ShopFactory()
    now = timezone.now()

    def raw(n: int, status: str, age: timedelta) -> RawOrder:
        row = RawOrder.objects.create(
            shop=shop, platform_order_id=f"P{n}", source="pull", payload={}, payload_hash=str(n), status=status
        )
        RawOrder.objects.filter(pk=row.pk).update(updated_at=now - age)
        return row

    old_done = [raw(n, status, 100 * DAY) for n, status in enumerate(["converted", "ignored", "converted"])]
    kept_raw = [raw(10, "pending", 100 * DAY), raw(11, "failed", 100 * DAY), raw(12, "converted", 10 * DAY)]

    def run(status: str, age: timedelta) -> PullRun:
        row = PullRun.objects.create(shop=shop, window_start=now, window_end=now, status=status)
        PullRun.objects.filter(pk=row.pk).update(started_at=now - age)
        return row

    old_runs = [run("succeeded", 40 * DAY), run("failed", 40 * DAY), run("succeeded", 40 * DAY)]
    kept_runs = [run("running", 40 * DAY), run("succeeded", 5 * DAY)]

    mapping = SkuMappingFactory(shop=shop)

    def push(age: timedelta) -> StockPush:
        row = StockPush.objects.create(shop=shop, mapping=mapping, quantity=3, status="succeeded")
        StockPush.objects.filter(pk=row.pk).update(created_at=now - age)
        return row

    old_pushes = [push(31 * DAY) for _ in range(3)]
    kept_pushes = [push(DAY)]

    assert channel_records_purge_task() == {"raw_orders": 3, "pull_runs": 3, "stock_pushes": 3}

    assert remaining(RawOrder, [*old_done, *kept_raw]) == {r.pk for r in kept_raw}
    assert remaining(PullRun, [*old_runs, *kept_runs]) == {r.pk for r in kept_runs}
    assert remaining(StockPush, [*old_pushes, *kept_pushes]) == {p.pk for p in kept_pushes}
    assert channel_records_purge_task() == {"raw_orders": 0, "pull_runs": 0, "stock_pushes": 0}


def test_payment_notifications_go_after_a_year_and_the_payment_stays():
    payment = PaymentFactory()
    now = timezone.now()

    def notification(age: timedelta) -> PaymentNotification:
        row = PaymentNotification.objects.create(provider="wechat", payment=payment, body="{}", verified=True)
        PaymentNotification.objects.filter(pk=row.pk).update(received_at=now - age)
        return row

    old = [notification(400 * DAY) for _ in range(3)]
    recent = notification(300 * DAY)

    assert payment_notifications_purge_task() == 3
    assert remaining(PaymentNotification, [*old, recent]) == {recent.pk}
    assert Payment.objects.filter(pk=payment.pk).exists()
    assert payment_notifications_purge_task() == 0


def test_expired_idempotency_keys_are_purged_in_batches():
    now = timezone.now()
    expired = [
        IdempotencyKey.objects.create(scope="s", key=f"k{n}", fingerprint="f", expires_at=now - DAY) for n in range(5)
    ]
    live = IdempotencyKey.objects.create(scope="s", key="live", fingerprint="f", expires_at=now + DAY)

    assert idempotency_keys_purge_task() == 5
    assert remaining(IdempotencyKey, [*expired, live]) == {live.pk}


def test_the_retention_jobs_are_on_the_beat_schedule():
    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {
        "core.outbox_purge",
        "core.idempotency_keys_purge",
        "channels.records_purge",
        "payments.notifications_purge",
    } <= tasks
