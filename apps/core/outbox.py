"""Transactional outbox.

``outbox_publish`` writes one event row inside the caller's transaction, so an effect is
durable exactly when the business change is. ``outbox_relay`` first fans committed events out
(``outbox_fan_out``: one delivery row per subscribed consumer, so each consumer's progress,
failure and retry stay visible in the admin), then hands pending deliveries to their
consumers at least once: each delivery is
claimed with a row lock (``SKIP LOCKED`` where the database has it), the consumer runs in
the same transaction, and a failure rolls back the consumer's writes and schedules a retry
with exponential backoff. Consumers must be idempotent: an external side effect may repeat
if the process dies after it but before the commit.

After commit, ``transaction.on_commit`` nudges the relay task for speed; the beat job that
runs the relay every few seconds is what guarantees delivery if that nudge is lost.
"""

import fnmatch
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.alerts import alert_raise
from apps.core.db import skip_locked
from apps.core.models import Alert, OutboxDelivery, OutboxEvent

logger = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """Raised by a consumer for an error retrying cannot fix (a provider misconfigured): the
    delivery fails at once, with the consumer's alert, instead of using up its attempts."""


@dataclass(frozen=True)
class Consumer:
    name: str
    topics: tuple[str, ...]
    handler: Callable
    batch: bool = False
    retry_forever: bool = False

    def wants(self, topic: str) -> bool:
        return any(fnmatch.fnmatchcase(topic, pattern) for pattern in self.topics)


_consumers: dict[str, Consumer] = {}


def outbox_consumer(
    name: str, *, topics: list[str] | tuple[str, ...], batch: bool = False, retry_forever: bool = False
) -> Callable:
    """Register ``handler`` for events whose topic matches one of ``topics`` (glob patterns).

    A plain consumer is called with one ``OutboxEvent``; a ``batch`` consumer with a list of
    up to ``OUTBOX_RELAY_BATCH`` events (oldest first), which succeed or are retried together
    (the search indexer sends them as one bulk request), unless the handler returns
    ``{event_id: error}`` for the events it could not handle: only those are retried. ``retry_forever`` consumers (safe to
    repeat at any time, like the indexer) are never given up on after ``OUTBOX_MAX_ATTEMPTS``:
    they keep retrying at the longest backoff (1 h), so they catch up on their own after an
    outage of any length. Register in an app's ``events.py``, imported from its ``AppConfig.ready``.
    """

    def register(handler: Callable) -> Callable:
        _consumers[name] = Consumer(
            name=name, topics=tuple(topics), handler=handler, batch=batch, retry_forever=retry_forever
        )
        return handler

    return register


def registered_consumers() -> dict[str, Consumer]:
    return dict(_consumers)


def outbox_publish(*, topic: str, aggregate_type: str, aggregate_id: str | int, payload: dict) -> OutboxEvent:
    """Record an event in the current transaction (one INSERT). Must be called inside ``transaction.atomic``."""
    event = OutboxEvent.objects.create(
        topic=topic, aggregate_type=aggregate_type, aggregate_id=str(aggregate_id), payload=payload
    )
    transaction.on_commit(outbox_relay_kick)
    return event


@dataclass(frozen=True)
class EventInput:
    topic: str
    aggregate_type: str
    aggregate_id: str
    payload: dict


def outbox_publish_many(events: list[EventInput]) -> None:
    """``outbox_publish`` for many events in one INSERT. Must be called inside ``transaction.atomic``."""
    if not events:
        return
    OutboxEvent.objects.bulk_create(
        [
            OutboxEvent(topic=e.topic, aggregate_type=e.aggregate_type, aggregate_id=e.aggregate_id, payload=e.payload)
            for e in events
        ]
    )
    transaction.on_commit(outbox_relay_kick)


def outbox_fan_out(*, limit: int) -> int:
    """Write the deliveries of up to ``limit`` committed events not fanned out yet, one per
    consumer subscribed to the event's topic, and mark the events fanned out (one transaction;
    events another relay is fanning out are skipped). Returns how many events were fanned out."""
    with transaction.atomic():
        events = list(
            OutboxEvent.objects.select_for_update(skip_locked=skip_locked())
            .filter(fanned_out=False)
            .order_by("id")
            .only("id", "topic")[:limit]
        )
        if not events:
            return 0
        now = timezone.now()
        OutboxDelivery.objects.bulk_create(
            [
                OutboxDelivery(event_id=event.pk, consumer=consumer.name, next_attempt_at=now)
                for event in events
                for consumer in _consumers.values()
                if consumer.wants(event.topic)
            ],
            ignore_conflicts=True,
        )
        OutboxEvent.objects.filter(pk__in=[event.pk for event in events]).update(fanned_out=True)
    return len(events)


def outbox_relay_kick() -> None:
    """Nudge the relay: at once at most once a second, and once more a second later for the
    events committed meanwhile (a relay already running may have missed them)."""
    from apps.core.tasks import outbox_relay_task

    # This runs after the commit: a cache or broker outage here must never turn the committed
    # request into an error (the beat job delivers instead).
    try:
        if cache.add("outbox:relay-kick", 1, timeout=1):
            outbox_relay_task.delay()
        elif cache.add("outbox:relay-kick-later", 1, timeout=1):
            outbox_relay_task.apply_async(countdown=1)
    except Exception:
        logger.warning("outbox relay nudge failed; the beat job will deliver", exc_info=True)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(10 * 2 ** (attempts - 1), 3600))


def outbox_deliver(delivery_id: int) -> bool:
    """Deliver one due delivery. Returns True when the consumer succeeded.

    A delivery another relay holds, has delivered, or has just rescheduled is left alone.
    """
    with transaction.atomic():
        delivery = (
            OutboxDelivery.objects.select_for_update(skip_locked=skip_locked())
            .select_related("event")
            .filter(pk=delivery_id, status=OutboxDelivery.Status.PENDING, next_attempt_at__lte=timezone.now())
            .first()
        )
        if delivery is None:
            return False
        consumer = _consumers.get(delivery.consumer)
        error, final = "", False
        if consumer is None:
            error = f"no consumer registered as {delivery.consumer!r}"
        else:
            try:
                with transaction.atomic():
                    if consumer.batch:
                        consumer.handler([delivery.event])
                    else:
                        consumer.handler(delivery.event)
            except DeliveryFailed as exc:
                logger.error(
                    "outbox consumer %s cannot deliver event %s: %s", delivery.consumer, delivery.event_id, exc
                )
                error, final = f"{type(exc).__name__}: {exc}", True
            except Exception as exc:
                logger.warning(
                    "outbox consumer %s failed on event %s", delivery.consumer, delivery.event_id, exc_info=True
                )
                error = f"{type(exc).__name__}: {exc}"
        _record_outcome([delivery], error, final=final)
        return not error


def _record_outcome(deliveries: list[OutboxDelivery], error: str, *, final: bool = False) -> None:
    now = timezone.now()
    for delivery in deliveries:
        delivery.attempts += 1
        if not error:
            delivery.status = OutboxDelivery.Status.DELIVERED
            delivery.delivered_at = now
            delivery.last_error = ""
        else:
            delivery.last_error = error[:4000]
            consumer = _consumers.get(delivery.consumer)
            out_of_attempts = delivery.attempts >= settings.OUTBOX_MAX_ATTEMPTS
            if final or (out_of_attempts and not (consumer and consumer.retry_forever)):
                delivery.status = OutboxDelivery.Status.FAILED
            else:
                delivery.next_attempt_at = now + _backoff(delivery.attempts)
    OutboxDelivery.objects.bulk_update(
        deliveries, ["status", "attempts", "next_attempt_at", "last_error", "delivered_at"]
    )
    for delivery in deliveries:
        if delivery.status == OutboxDelivery.Status.FAILED:
            _alert_failed(delivery)


def _alert_failed(delivery: OutboxDelivery) -> None:
    """A delivery out of attempts will not be retried on its own (its side effect, e.g. the
    search index, stays stale): staff are alerted, one open alert per consumer; the admin's
    retry action requeues the failed deliveries."""
    event = delivery.event
    logger.error("outbox delivery %s to %s failed for good on event %s", delivery.pk, delivery.consumer, event.pk)
    alert_raise(
        kind="outbox_delivery_failed",
        dedup_key=f"outbox-delivery-failed:{delivery.consumer}",
        severity=Alert.Severity.ERROR,
        message=_(
            "Outbox consumer %(consumer)s gave up on event %(event)s (%(topic)s %(aggregate)s) after %(attempts)s "
            "attempts: %(error)s"
        )
        % {
            "consumer": delivery.consumer,
            "event": event.pk,
            "topic": event.topic,
            "aggregate": f"{event.aggregate_type}:{event.aggregate_id}",
            "attempts": delivery.attempts,
            "error": delivery.last_error[:200],
        },
        details={
            "consumer": delivery.consumer,
            "delivery_id": delivery.pk,
            "event_id": event.pk,
            "topic": event.topic,
            "aggregate_type": event.aggregate_type,
            "aggregate_id": event.aggregate_id,
            "attempts": delivery.attempts,
            "error": delivery.last_error[:1000],
        },
    )


def outbox_deliver_batch(consumer: Consumer, *, limit: int) -> int:
    """Deliver up to ``limit`` due events to a batch consumer in one call."""
    with transaction.atomic():
        deliveries = list(
            OutboxDelivery.objects.select_for_update(skip_locked=skip_locked())
            .select_related("event")
            .filter(
                consumer=consumer.name,
                status=OutboxDelivery.Status.PENDING,
                next_attempt_at__lte=timezone.now(),
            )
            .order_by("event_id")[:limit]
        )
        if not deliveries:
            return 0
        failed: dict[int, str] = {}
        error, final = "", False
        try:
            with transaction.atomic():
                failed = consumer.handler([d.event for d in deliveries]) or {}
        except DeliveryFailed as exc:
            logger.error("outbox batch consumer %s cannot deliver: %s", consumer.name, exc)
            error, final = f"{type(exc).__name__}: {exc}", True
        except Exception as exc:
            logger.warning("outbox batch consumer %s failed", consumer.name, exc_info=True)
            error = f"{type(exc).__name__}: {exc}"
        if error:
            _record_outcome(deliveries, error, final=final)
            return 0
        done = [d for d in deliveries if d.event_id not in failed]
        _record_outcome(done, "")
        for delivery in deliveries:
            if delivery.event_id in failed:
                _record_outcome([delivery], failed[delivery.event_id])
        return len(done)


def outbox_relay(*, limit: int | None = None) -> int:
    """Fan new events out to their consumers, then deliver every due delivery (oldest event
    first). Returns how many deliveries succeeded."""
    limit = limit or settings.OUTBOX_RELAY_BATCH
    while outbox_fan_out(limit=limit) == limit:
        pass
    delivered = 0
    batch_names = []
    for consumer in _consumers.values():
        if consumer.batch:
            batch_names.append(consumer.name)
            try:
                delivered += outbox_deliver_batch(consumer, limit=limit)
            except DatabaseError:
                logger.warning("outbox batch %s hit a database error; it stays pending", consumer.name, exc_info=True)
    ids = list(
        OutboxDelivery.objects.filter(status=OutboxDelivery.Status.PENDING, next_attempt_at__lte=timezone.now())
        .exclude(consumer__in=batch_names)
        .order_by("event_id", "id")
        .values_list("id", flat=True)[:limit]
    )
    for delivery_id in ids:
        try:
            delivered += outbox_deliver(delivery_id)
        except DatabaseError:
            logger.warning("outbox delivery %s hit a database error; it stays pending", delivery_id, exc_info=True)
    return delivered


def outbox_retry(*, delivery_ids: list[int]) -> int:
    """Put failed deliveries back in the queue (admin action). Returns how many were requeued."""
    with transaction.atomic():
        count = OutboxDelivery.objects.filter(pk__in=delivery_ids, status=OutboxDelivery.Status.FAILED).update(
            status=OutboxDelivery.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
        )
        transaction.on_commit(outbox_relay_kick)
    return count
