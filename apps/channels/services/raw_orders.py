"""Raw ("temporary") platform orders: store what platforms send, exactly as sent.

Pull and push both end in ``raw_orders_save``: one row per (shop, platform order id); the
same payload again changes nothing, a changed one replaces the stored payload and goes back
to ``pending``, and one older than what is stored (a late push after a newer pull) is kept
out. Conversion into formal orders happens later, in batches (``services.conversion``).
"""

import hashlib
import json
import logging
from dataclasses import dataclass

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.channels.adapters import NormalizedOrder, PayloadError, adapter_for
from apps.channels.error_codes import ChannelErrorCode
from apps.channels.models import RawOrder
from apps.core.db import retry_on_deadlock
from apps.core.exceptions import ApplicationError, Unprocessable
from apps.shops.models import Shop

logger = logging.getLogger(__name__)


class Outcome:
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    STALE = "stale"


@dataclass(frozen=True)
class SaveResult:
    platform_order_id: str
    raw_order_id: int
    outcome: str


def payload_hash(payload: dict) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def raw_orders_save(*, shop: Shop, orders: list[tuple[dict, NormalizedOrder]], source: str) -> list[SaveResult]:
    """Insert or update the raw orders of one page or push, in one transaction."""
    now = timezone.now()
    results = []
    with transaction.atomic():
        ids = [normalized.platform_order_id for _raw, normalized in orders]
        existing = {
            raw.platform_order_id: raw
            for raw in RawOrder.objects.select_for_update().filter(shop=shop, platform_order_id__in=ids)
        }
        for payload, normalized in orders:
            digest = payload_hash(payload)
            raw = existing.get(normalized.platform_order_id)
            if raw is None:
                raw, created = _insert(
                    shop=shop, payload=payload, normalized=normalized, digest=digest, source=source, now=now
                )
                existing[normalized.platform_order_id] = raw
                if created:
                    results.append(SaveResult(normalized.platform_order_id, raw.pk, Outcome.CREATED))
                    continue
            results.append(_update(raw=raw, payload=payload, normalized=normalized, digest=digest, source=source))
        if any(result.outcome in (Outcome.CREATED, Outcome.UPDATED) for result in results):
            transaction.on_commit(conversion_kick)
    return results


def _insert(*, shop, payload, normalized: NormalizedOrder, digest: str, source: str, now) -> tuple[RawOrder, bool]:
    try:
        with transaction.atomic():
            raw = RawOrder.objects.create(
                shop=shop,
                platform_order_id=normalized.platform_order_id,
                platform_status=normalized.platform_status[:32],
                platform_updated_at=normalized.updated_at,
                source=source,
                payload=payload,
                payload_hash=digest,
                next_attempt_at=now,
            )
        return raw, True
    except IntegrityError:
        # Another pull or push stored it a moment ago: treat ours as an update of theirs.
        raw = RawOrder.objects.select_for_update().get(shop=shop, platform_order_id=normalized.platform_order_id)
        return raw, False


def _update(*, raw: RawOrder, payload, normalized: NormalizedOrder, digest: str, source: str) -> SaveResult:
    if raw.payload_hash == digest:
        return SaveResult(raw.platform_order_id, raw.pk, Outcome.UNCHANGED)
    if raw.platform_updated_at and normalized.updated_at < raw.platform_updated_at:
        return SaveResult(raw.platform_order_id, raw.pk, Outcome.STALE)
    raw.payload = payload
    raw.payload_hash = digest
    raw.platform_status = normalized.platform_status[:32]
    raw.platform_updated_at = normalized.updated_at
    raw.source = source
    raw.status = RawOrder.Status.PENDING
    raw.error_code = ""
    raw.error = ""
    raw.attempts = 0
    raw.next_attempt_at = timezone.now()
    raw.save(
        update_fields=[
            "payload",
            "payload_hash",
            "platform_status",
            "platform_updated_at",
            "source",
            "status",
            "error_code",
            "error",
            "attempts",
            "next_attempt_at",
            "updated_at",
        ]
    )
    return SaveResult(raw.platform_order_id, raw.pk, Outcome.UPDATED)


def raw_orders_save_unreadable(*, shop: Shop, orders: list[tuple[str, dict, str]], source: str) -> list[SaveResult]:
    """Keep pulled orders that could not be understood, as ``failed`` raw orders with the
    reason (``invalid_payload``), so staff see them and the pull goes on. ``orders`` holds
    (platform order id, payload, error); the same payload again changes nothing."""
    results = []
    with transaction.atomic():
        for platform_order_id, payload, error in orders:
            digest = payload_hash(payload)
            fields = {
                "payload": payload,
                "payload_hash": digest,
                "source": source,
                "status": RawOrder.Status.FAILED,
                "error_code": ChannelErrorCode.INVALID_PAYLOAD,
                "error": error[:4000],
                "next_attempt_at": None,
            }
            raw, created = RawOrder.objects.select_for_update().get_or_create(
                shop=shop, platform_order_id=platform_order_id, defaults=fields
            )
            if created:
                results.append(SaveResult(platform_order_id, raw.pk, Outcome.CREATED))
            elif raw.payload_hash == digest:
                results.append(SaveResult(platform_order_id, raw.pk, Outcome.UNCHANGED))
            else:
                RawOrder.objects.filter(pk=raw.pk).update(**fields, updated_at=timezone.now())
                results.append(SaveResult(platform_order_id, raw.pk, Outcome.UPDATED))
    return results


def raw_orders_with_stored(*, shop: Shop, adapter, orders: list) -> list:
    """The page's orders with what the platform keeps of their stored payloads
    (``merge_stored``: JD's refund applications, pulled apart from the orders), so a newer
    order document never drops a refund request the conversion has not seen yet."""
    stored = dict(
        RawOrder.objects.select_for_update()
        .filter(shop=shop, platform_order_id__in=[normalized.platform_order_id for _raw, normalized in orders])
        .values_list("platform_order_id", "payload")
    )
    merged = []
    for payload, normalized in orders:
        previous = stored.get(normalized.platform_order_id)
        combined = adapter.merge_stored(payload, previous) if previous else payload
        if combined is not payload:
            try:
                normalized = adapter.parse_order(combined)
                payload = combined
            except PayloadError:
                logger.warning("shop %s: stored payload of %s not merged", shop.code, normalized.platform_order_id)
        merged.append((payload, normalized))
    return merged


@retry_on_deadlock
def raw_orders_receive(*, shop: Shop, payloads: list[dict], actor: str) -> list[SaveResult]:
    """Accept pushed orders in the shop platform's own format. Every payload is parsed
    first: if any cannot be understood nothing is stored and the errors are listed. Pushes
    running at once (and the conversion) may deadlock on the raw order index: the loser runs again."""
    adapter = adapter_for(shop)
    if adapter is None:
        raise ApplicationError(
            ChannelErrorCode.PUSH_NOT_SUPPORTED,
            _("Shops of our own API create orders through the orders API, not the platform push."),
        )
    parsed, errors = [], {}
    for index, payload in enumerate(payloads):
        if not isinstance(payload, dict):
            errors[str(index)] = [_("Each order must be a JSON object.")]
            continue
        try:
            parsed.append((payload, adapter.parse_order(payload)))
        except PayloadError as exc:
            errors[str(index)] = [str(exc)]
    if errors:
        raise Unprocessable(
            ChannelErrorCode.INVALID_PAYLOAD, _("Some orders could not be understood; nothing was stored."), errors
        )
    logger.info("%s pushed %s orders to shop %s", actor, len(parsed), shop.code)
    with transaction.atomic():
        parsed = raw_orders_with_stored(shop=shop, adapter=adapter, orders=parsed)
        return raw_orders_save(shop=shop, orders=parsed, source=RawOrder.Source.PUSH)


def conversion_kick() -> None:
    """Nudge the conversion worker after commit: at once at most once a second, and once
    more a second later for the commits that came meanwhile (a conversion already running may
    have missed them). The hourly compensation job converts anything a lost nudge left pending."""
    from apps.channels.tasks import raw_orders_convert_task

    try:
        if cache.add("channels:convert-kick", 1, timeout=1):
            raw_orders_convert_task.delay()
        elif cache.add("channels:convert-kick-later", 1, timeout=1):
            raw_orders_convert_task.apply_async(countdown=1)
    except Exception:
        logger.warning("conversion nudge failed; the compensation job will convert", exc_info=True)
