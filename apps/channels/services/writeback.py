"""Shipment write-back: carrier and tracking number of a shipped package to the platform.

The ``fulfillment.shipped`` consumer records one ``ShipmentWriteBack`` per platform order
in its transaction (durable with the event); the attempt itself runs in a task, outside
that transaction, so every failure is recorded: transient ones are retried with backoff
(10 s, 30 s, 60 s, then doubling up to an hour) up to ``CHANNEL_WRITEBACK_MAX_ATTEMPTS``,
an alert opens after ``CHANNEL_WRITEBACK_ALERT_AFTER`` failed attempts (or at once for a
permanent refusal) and closes on success. A platform accepting the same shipment twice is
harmless, so a retry after a lost answer is safe.

An attempt holds no transaction or row lock while the platform answers (up to
``_claim_seconds()`` with the adapter's own retries): a short transaction claims the row
(counts the attempt, sets ``claimed_until`` and a ``claim_token`` by a conditional UPDATE, so
two workers never both win), the platform is called with no transaction open, and a second
short transaction records the outcome. A worker that dies in between leaves the claim
behind; once it expires the beat scan (``next_attempt_at`` = ``claimed_until``) sends the
write-back again. A late failure of a worker whose claim expired and was taken over is
discarded; a success is always kept.
"""

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.channels.adapters import ADAPTERS, AdapterError, adapter_for
from apps.channels.models import ShipmentWriteBack
from apps.core.alerts import alert_raise, alert_resolve
from apps.orders.models import Fulfillment, Order

logger = logging.getLogger(__name__)

BACKOFF_SECONDS = (10, 30, 60)


def _backoff(attempts: int) -> timedelta:
    if attempts <= len(BACKOFF_SECONDS):
        return timedelta(seconds=BACKOFF_SECONDS[attempts - 1])
    return timedelta(seconds=min(60 * 2 ** (attempts - len(BACKOFF_SECONDS)), 3600))


def _claim_seconds() -> float:
    """How long a claim lasts: longer than the slowest platform call the adapter can make
    (every attempt at its connect and read timeouts, the delays between them), plus a
    minute."""
    timeout = settings.CHANNEL_HTTP_TIMEOUT_SECONDS
    retries = settings.CHANNEL_HTTP_RETRIES
    per_call = min(timeout, 5) + timeout
    delays = settings.CHANNEL_HTTP_RETRY_DELAY_SECONDS * retries * (retries + 1) / 2
    return per_call * (retries + 1) + delays + 60


def _alert_key(write_back_id: int) -> str:
    return f"channel-writeback:{write_back_id}"


def writebacks_create(
    *, fulfillment_no: str, order_nos: list[str], carrier: str, tracking_no: str
) -> list[ShipmentWriteBack]:
    """Record the write-backs a shipped fulfillment needs (platform orders only, normal
    packages only: exchanges and reissues are not the platform's shipment). Idempotent."""
    with transaction.atomic():
        kind = Fulfillment.objects.filter(fulfillment_no=fulfillment_no).values_list("kind", flat=True).first()
        if kind is not None and kind != Fulfillment.Kind.NORMAL:
            return []
        orders = Order.objects.select_related("shop").filter(
            order_no__in=order_nos, shop__platform__in=list(ADAPTERS), platform_order_id__isnull=False
        )
        created = []
        for order in orders:
            write_back, was_created = ShipmentWriteBack.objects.get_or_create(
                fulfillment_no=fulfillment_no,
                order=order,
                defaults={
                    "shop": order.shop,
                    "platform_order_id": order.platform_order_id,
                    "carrier": carrier,
                    "tracking_no": tracking_no,
                    "next_attempt_at": timezone.now(),
                },
            )
            if was_created:
                created.append(write_back)
        ids = [write_back.pk for write_back in created]
        transaction.on_commit(lambda: [_enqueue(pk) for pk in ids])
    return created


def _enqueue(write_back_id: int, countdown: int = 0) -> None:
    from apps.channels.tasks import writeback_ship_task

    try:
        writeback_ship_task.apply_async(kwargs={"write_back_id": write_back_id}, countdown=countdown)
    except Exception:
        logger.warning("could not enqueue write-back %s; the beat scan retries it", write_back_id, exc_info=True)


def writeback_attempt(*, write_back_id: int, actor: str, now: datetime | None = None) -> ShipmentWriteBack | None:
    """Send one pending write-back to its platform. None when it is not pending (done,
    given up) or another worker holds an unexpired claim on it (it is being sent)."""
    claim = _claim(write_back_id=write_back_id, now=now or timezone.now())
    if claim is None:
        return None
    write_back, token = claim
    try:  # no transaction is open here: the row and the shop stay free while the platform answers
        adapter_for(write_back.shop).ship(
            platform_order_id=write_back.platform_order_id,
            carrier=write_back.carrier,
            tracking_no=write_back.tracking_no,
        )
    except AdapterError as exc:
        return _record(write_back_id=write_back_id, token=token, error=exc, actor=actor)
    return _record(write_back_id=write_back_id, token=token, error=None, actor=actor)


def _claim(*, write_back_id: int, now: datetime) -> tuple[ShipmentWriteBack, str] | None:
    """Claim a pending write-back whose previous claim (if any) expired; counts the attempt.
    The conditional UPDATE decides between two workers: only one matches the row."""
    token = uuid.uuid4().hex
    claimed_until = now + timedelta(seconds=_claim_seconds())
    with transaction.atomic():
        claimed = (
            ShipmentWriteBack.objects.filter(pk=write_back_id, status=ShipmentWriteBack.Status.PENDING)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
            .update(
                attempts=F("attempts") + 1,
                claimed_until=claimed_until,
                claim_token=token,
                # If this worker dies before the outcome, the beat scan retries after the claim.
                next_attempt_at=claimed_until,
            )
        )
    if not claimed:
        return None
    return ShipmentWriteBack.objects.select_related("shop").get(pk=write_back_id), token


def _record(*, write_back_id: int, token: str, error: AdapterError | None, actor: str) -> ShipmentWriteBack:
    """Record the outcome of a claimed attempt and release the claim."""
    with transaction.atomic():
        write_back = ShipmentWriteBack.objects.select_for_update().get(pk=write_back_id)
        if write_back.status != ShipmentWriteBack.Status.PENDING:
            return write_back  # another worker's attempt (after our claim expired) finished it
        now = timezone.now()
        if error is None:
            write_back.status = ShipmentWriteBack.Status.SUCCEEDED
            write_back.succeeded_at = now
            write_back.next_attempt_at = None
            write_back.last_error = ""
            alert_resolve(dedup_key=_alert_key(write_back.pk))
            logger.info("%s wrote back %s to %s", actor, write_back.fulfillment_no, write_back.platform_order_id)
        elif write_back.claim_token != token:
            # Our claim expired and another worker holds the row now: its outcome counts.
            logger.warning("write-back %s: late failure after the claim expired: %s", write_back.pk, error)
            return write_back
        else:
            _failed(write_back, error, now=now)
        write_back.claimed_until = None
        write_back.claim_token = ""
        write_back.save(
            update_fields=[
                "status",
                "next_attempt_at",
                "last_error",
                "succeeded_at",
                "claimed_until",
                "claim_token",
            ]
        )
    return write_back


def _failed(write_back: ShipmentWriteBack, exc: AdapterError, *, now: datetime) -> None:
    write_back.last_error = str(exc)[:4000]
    give_up = not exc.transient or write_back.attempts >= settings.CHANNEL_WRITEBACK_MAX_ATTEMPTS
    if give_up:
        write_back.status = ShipmentWriteBack.Status.FAILED
        write_back.next_attempt_at = None
    else:
        delay = _backoff(write_back.attempts)
        write_back.next_attempt_at = now + delay
        pk = write_back.pk
        transaction.on_commit(lambda: _enqueue(pk, countdown=int(delay.total_seconds())))
    if give_up or write_back.attempts >= settings.CHANNEL_WRITEBACK_ALERT_AFTER:
        alert_raise(
            kind="channel_writeback",
            dedup_key=_alert_key(write_back.pk),
            message=_("Shipment write-back of %(order)s to %(shop)s failed %(count)s times: %(error)s")
            % {
                "order": write_back.platform_order_id,
                "shop": write_back.shop.code,
                "count": write_back.attempts,
                "error": exc,
            },
            details={"write_back_id": write_back.pk, "transient": exc.transient},
        )
    logger.warning("write-back %s failed (attempt %s): %s", write_back.pk, write_back.attempts, exc)


def writebacks_due(*, limit: int = 500, now: datetime | None = None) -> list[int]:
    """Pending write-backs whose next attempt is due (the beat backstop for lost tasks and
    for claims left behind by a worker that died: they are due when the claim expires)."""
    return list(
        ShipmentWriteBack.objects.filter(
            status=ShipmentWriteBack.Status.PENDING, next_attempt_at__lte=now or timezone.now()
        ).values_list("pk", flat=True)[:limit]
    )


def writeback_retry(*, write_back_ids: list[int], actor: str) -> int:
    """Put failed write-backs back in the queue (admin action). Returns how many."""
    with transaction.atomic():
        count = ShipmentWriteBack.objects.filter(pk__in=write_back_ids, status=ShipmentWriteBack.Status.FAILED).update(
            status=ShipmentWriteBack.Status.PENDING,
            attempts=0,
            next_attempt_at=timezone.now(),
            claimed_until=None,
            claim_token="",
        )
        ids = list(write_back_ids)
        transaction.on_commit(lambda: [_enqueue(pk) for pk in ids])
    logger.info("%s re-queued %s write-backs", actor, count)
    return count
