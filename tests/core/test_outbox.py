import threading
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apps.core.models import OutboxDelivery, OutboxEvent
from apps.core.outbox import outbox_publish, outbox_relay, outbox_retry, registered_consumers
from tests.core.relays import relays_in_parallel


def publish(topic: str = "coretest.happened", aggregate_id: str = "A1", **payload) -> OutboxEvent:
    with transaction.atomic():
        return outbox_publish(topic=topic, aggregate_type="coretest", aggregate_id=aggregate_id, payload=payload)


def make_due(event: OutboxEvent) -> None:
    """Time passes: the retry the backoff scheduled is now due."""
    OutboxDelivery.objects.filter(event=event).update(next_attempt_at=timezone.now())


@pytest.mark.django_db
def test_rolled_back_event_is_never_delivered(consumers):
    received = []
    consumers("coretest.log", topics=["coretest.*"])(received.append)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        outbox_publish(topic="coretest.happened", aggregate_type="coretest", aggregate_id="A1", payload={})
        raise Boom

    assert outbox_relay() == 0
    assert received == []
    assert not OutboxEvent.objects.exists()


@pytest.mark.django_db
def test_committed_event_reaches_each_subscribed_consumer_once(consumers):
    first, second, other = [], [], []
    consumers("coretest.first", topics=["coretest.*"])(lambda event: first.append(event.payload))
    consumers("coretest.second", topics=["coretest.happened"])(lambda event: second.append(event.payload))
    consumers("coretest.other", topics=["elsewhere.*"])(other.append)

    event = publish(amount="12.50")

    assert outbox_relay() == 2
    assert outbox_relay() == 0
    assert first == [{"amount": "12.50"}]
    assert second == [{"amount": "12.50"}]
    assert other == []
    statuses = dict(OutboxDelivery.objects.filter(event=event).values_list("consumer", "status"))
    assert statuses == {"coretest.first": "delivered", "coretest.second": "delivered"}


@pytest.mark.django_db
def test_failing_consumer_backs_off_then_fails_and_retry_requeues(consumers, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 3
    healthy = {"value": False}
    received = []

    @consumers("coretest.flaky", topics=["coretest.*"])
    def flaky(event):
        if not healthy["value"]:
            raise RuntimeError("peer is down")
        received.append(event.pk)

    event = publish()

    before = timezone.now()
    assert outbox_relay() == 0
    after = timezone.now()
    delivery = OutboxDelivery.objects.get(event=event)
    assert delivery.status == OutboxDelivery.Status.PENDING
    assert delivery.attempts == 1
    assert "peer is down" in delivery.last_error
    # the first retry is due 10 s after the failed attempt, which ran between before and after
    assert before + timedelta(seconds=10) <= delivery.next_attempt_at <= after + timedelta(seconds=10)
    first_delay = delivery.next_attempt_at - before

    assert outbox_relay() == 0, "not due yet: the backoff holds it back"
    delivery.refresh_from_db()
    assert delivery.attempts == 1

    make_due(event)
    before = timezone.now()
    outbox_relay()
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    assert delivery.next_attempt_at - before > first_delay, "the backoff grows"

    make_due(event)
    outbox_relay()
    delivery.refresh_from_db()
    assert delivery.status == OutboxDelivery.Status.FAILED
    assert delivery.attempts == 3

    make_due(event)
    assert outbox_relay() == 0, "a failed delivery is not retried on its own"

    assert outbox_retry(delivery_ids=[delivery.pk]) == 1
    healthy["value"] = True
    assert outbox_relay() == 1
    delivery.refresh_from_db()
    assert delivery.status == OutboxDelivery.Status.DELIVERED
    assert received == [event.pk]


@pytest.mark.django_db
def test_failing_consumer_rolls_back_its_writes(consumers):
    from django.contrib.auth.models import Group

    @consumers("coretest.half", topics=["coretest.*"])
    def half_done(event):
        Group.objects.create(name="written before the failure")
        raise RuntimeError("failed half-way")

    publish()
    outbox_relay()
    assert not Group.objects.filter(name="written before the failure").exists()


@pytest.mark.django_db
def test_batch_consumer_gets_events_oldest_first_in_one_call(consumers):
    calls = []
    consumers("coretest.bulk", topics=["coretest.*"], batch=True)(
        lambda events: calls.append([e.aggregate_id for e in events])
    )
    for n in range(5):
        publish(aggregate_id=f"A{n}")

    assert outbox_relay() == 5
    assert calls == [["A0", "A1", "A2", "A3", "A4"]]
    assert outbox_relay() == 0


@pytest.mark.django_db
def test_failing_batch_is_retried_as_a_whole(consumers):
    calls = []

    @consumers("coretest.bulk", topics=["coretest.*"], batch=True)
    def bulk(events):
        calls.append(len(events))
        if len(calls) == 1:
            raise RuntimeError("search cluster unavailable")

    events = [publish(aggregate_id=f"A{n}") for n in range(3)]
    assert outbox_relay() == 0
    assert set(OutboxDelivery.objects.values_list("status", "attempts")) == {("pending", 1)}
    for event in events:
        make_due(event)
    assert outbox_relay() == 3
    assert calls == [3, 3]


@pytest.mark.django_db(transaction=True)
def test_two_relays_in_parallel_deliver_each_event_exactly_once(consumers):
    received = []
    lock = threading.Lock()

    @consumers("coretest.count", topics=["coretest.*"])
    def count(event):
        with lock:
            received.append(event.pk)

    event_ids = [publish(aggregate_id=f"A{n}").pk for n in range(60)]
    assert relays_in_parallel(limit=20) == []
    assert sorted(received) == sorted(event_ids)
    assert OutboxDelivery.objects.filter(status=OutboxDelivery.Status.DELIVERED).count() == 60


@pytest.mark.django_db
def test_a_delivery_that_fails_for_good_raises_one_alert_per_consumer(consumers, settings):
    from apps.core.models import Alert

    settings.OUTBOX_MAX_ATTEMPTS = 2

    @consumers("coretest.down", topics=["coretest.*"])
    def down(event):
        raise RuntimeError("peer is down")

    first, second = publish(aggregate_id="A1"), publish(aggregate_id="A2")
    outbox_relay()
    assert not Alert.objects.exists(), "a retry is still scheduled: no alert yet"

    make_due(first)
    make_due(second)
    outbox_relay()
    assert OutboxDelivery.objects.filter(status=OutboxDelivery.Status.FAILED).count() == 2
    (alert,) = Alert.objects.all()
    assert alert.is_open
    assert (alert.kind, alert.severity, alert.occurrences) == ("outbox_delivery_failed", "error", 2)
    assert "coretest.down" in alert.message
    assert str(first.pk) in alert.message
    assert alert.details["consumer"] == "coretest.down"
    assert alert.details["event_id"] == first.pk
    assert alert.details["topic"] == "coretest.happened"
    assert "peer is down" in alert.details["error"]


@pytest.mark.django_db
def test_a_failed_batch_alerts_for_its_consumer(consumers, settings):
    from apps.core.models import Alert

    settings.OUTBOX_MAX_ATTEMPTS = 1

    @consumers("coretest.bulk", topics=["coretest.*"], batch=True)
    def bulk(events):
        raise ConnectionError("cluster unreachable")

    event = publish()
    outbox_relay()
    (alert,) = Alert.objects.all()
    assert alert.details["consumer"] == "coretest.bulk"
    assert alert.details["event_id"] == event.pk
    assert alert.dedup_key == "outbox-delivery-failed:coretest.bulk"


@pytest.mark.django_db
def test_a_consumer_safe_to_repeat_keeps_retrying_past_the_attempt_limit(consumers, settings):
    """The search indexer: after an outage of any length it catches up by itself."""
    from apps.core.models import Alert

    settings.OUTBOX_MAX_ATTEMPTS = 2
    healthy = {"value": False}

    @consumers("coretest.index", topics=["coretest.*"], batch=True, retry_forever=True)
    def index(events):
        if not healthy["value"]:
            raise ConnectionError("cluster unreachable")

    event = publish()
    for _attempt in range(4):
        make_due(event)
        outbox_relay()
    delivery = OutboxDelivery.objects.get(event=event)
    assert (delivery.status, delivery.attempts) == (OutboxDelivery.Status.PENDING, 4)
    assert delivery.next_attempt_at - timezone.now() <= timedelta(hours=1)
    assert not Alert.objects.exists()

    healthy["value"] = True
    make_due(event)
    outbox_relay()
    assert OutboxDelivery.objects.get(event=event).status == OutboxDelivery.Status.DELIVERED


def test_the_search_indexer_never_gives_up():
    assert registered_consumers()["search.index"].retry_forever


@pytest.mark.django_db
def test_a_batch_consumer_may_fail_single_events_and_only_those_are_retried(consumers):
    calls = []

    @consumers("coretest.bulk", topics=["coretest.*"], batch=True)
    def bulk(events):
        calls.append([e.aggregate_id for e in events])
        return {e.pk: "refused: A1 is broken" for e in events if e.aggregate_id == "A1" and len(calls) == 1}

    events = [publish(aggregate_id=f"A{n}") for n in range(3)]
    assert outbox_relay() == 2
    by_event = {d.event.aggregate_id: d for d in OutboxDelivery.objects.select_related("event")}
    assert (by_event["A1"].status, by_event["A1"].attempts, by_event["A1"].last_error) == (
        "pending",
        1,
        "refused: A1 is broken",
    )
    assert {by_event["A0"].status, by_event["A2"].status} == {"delivered"}
    make_due(events[1])
    assert outbox_relay() == 1
    assert calls == [["A0", "A1", "A2"], ["A1"]]


def queued_relay_runs() -> list[bool]:
    """Relay tasks waiting in the broker, in order: True for one sent to run at once."""
    from oms.celery import TASK_ROUTES, app

    runs = []
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue(TASK_ROUTES["core.outbox_relay"])
        while True:
            try:
                message = queue.get(block=False)
            except queue.Empty:
                break
            if message.headers.get("task") == "core.outbox_relay":
                runs.append(message.headers.get("eta") is None)
            message.ack()
        queue.close()
    return runs


def test_commits_right_after_a_nudge_get_a_second_one_a_second_later():
    from apps.core.outbox import outbox_relay_kick

    queued_relay_runs()
    outbox_relay_kick()  # the first commit: the relay runs now
    outbox_relay_kick()  # a commit the running relay may miss: once more, a second later
    outbox_relay_kick()  # that later run covers this one too
    assert queued_relay_runs() == [True, False]
