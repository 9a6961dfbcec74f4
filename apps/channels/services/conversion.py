"""Raw platform orders -> formal orders, in batches.

A batch reads its raw orders, the SKU mappings and the already linked orders in three
queries. Its new paid orders are then created together by the orders app's one writer
(``orders_create``, the same that creates an API order), with a number of queries that does
not grow with the batch: a draft the orders app refuses, or one with an unmapped SKU, is
recorded as failed and the others go on.
Every other raw order (an update of a converted one, a locked, unpaid or cancelled one, a new
one that already carries a refund request), and the new ones too if their batch fails as a
whole, is converted in its own transaction. Raw
orders are row-locked with ``SKIP LOCKED``, so two workers never convert the same one.

Decisions:
- Only paid platform orders become formal orders, entering ``paid`` (then audit). An unpaid
  one is ``ignored`` until the platform sends it again paid (a new payload re-queues it):
  the platform runs the payment timeout, so holding our stock for it would be wrong.
- An order cancelled or already shipped on the platform before we saw it is ignored.
- Unmapped SKUs fail with ``unmapped_sku``; saving the mapping re-queues those orders (and
  the hourly compensation re-queues them after a mapping of the shop changed).
- Short stock never fails a paid order: the buyer has paid, so it is created without a
  reservation and held as out of stock (``OrderDraft(on_shortage="hold")``, hold reason
  ``out_of_stock``, one ``out_of_stock`` alert per SKU); the orders beat job
  ``orders.retry_out_of_stock`` moves it on once stock is received.
- Other failures (an inactive SKU, an order the orders app refuses to change yet) are
  retried with backoff by the hourly compensation job, up to ``CHANNEL_CONVERT_MAX_ATTEMPTS``.
- Updates of a converted order: a platform cancellation, or a refund request before
  shipment that covers what is still paid, cancels the order; any other refund request (after
  shipment, or for part of an unshipped order) is handed to after-sales
  (``channel.aftersale_requested``, once per refund id); a changed address before shipment
  goes to ``order_update_address``. A new order whose first payload already carries refund
  requests is created, then its refunds are applied the same way (so a full one cancels it at
  once and a partial one reaches after-sales), and the refund ids are recorded so a later
  payload does not ask again.
- A platform cancellation (or full refund) of an allocated order cancels it
  (``order_cancel``: packages intercepted, stock released). The buyer's money went back on
  the platform, not through our payments, so the platform's refund is then recorded
  (``order_record_refund``, reference ``platform-cancel:<order_no>``), as for a paid or held
  order, and the order's refunded amount matches what it was paid.
- A platform lock (JD ``LOCKED`` / ``POP_ORDER_PAUSE``: a cancellation or after-sale is
  pending, or the order is paused) never cancels: a new order is created and held at once,
  a paid or held one gets the hold reason ``platform_locked`` (``order_hold``; added once,
  beside any other reason); one already allocated cannot be held, so it is left as it is,
  the raw order notes it and a ``channel_order_locked`` alert asks staff to stop the
  shipment. The platform's cancellation, if it follows, cancels as usual. When it unlocks
  (the next payload is paid again), ``platform_locked`` is lifted
  (``order_remove_hold_reason``): with no other reason the order is released and audited
  again (allocated if it passes); an audit finding, ``out_of_stock`` or a staff hold keeps
  it on hold. The order's ``channel_order_locked`` alert, if any, is resolved.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.channels.adapters import NormalizedOrder, NormalizedRefund, NormalizedStatus, PayloadError, adapter_for
from apps.channels.error_codes import ChannelErrorCode
from apps.channels.models import RawOrder, SkuMapping
from apps.core.alerts import alert_raise, alert_resolve
from apps.core.db import skip_locked
from apps.core.exceptions import ApplicationError
from apps.core.outbox import outbox_publish
from apps.orders.models import (
    NOT_SHIPPED_STATUSES,
    SHIPPED_STATUSES,
    Order,
    OrderStatus,
    refunds_cover_payment,
)
from apps.orders.services import (
    ON_SHORTAGE_HOLD,
    PLATFORM_LOCKED,
    OrderDraft,
    OrderLineInput,
    PaidInput,
    RecipientInput,
    order_cancel,
    order_hold,
    order_record_refund,
    order_remove_hold_reason,
    order_request_refund,
    order_update_address,
    orders_create,
)

logger = logging.getLogger(__name__)

S = OrderStatus


class ConversionFailed(Exception):
    def __init__(self, code: str, message: str, *, retryable: bool):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


@dataclass
class ConversionReport:
    converted: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    ignored: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return len(self.converted) + len(self.updated) + len(self.ignored) + len(self.failed)


def _backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(5 * 2 ** max(attempts - 1, 0), 12 * 60))


def raw_orders_convert_batch(
    *, actor: str, limit: int | None = None, raw_order_ids: list[int] | None = None
) -> ConversionReport:
    """Convert up to ``limit`` (``CHANNEL_CONVERT_BATCH``) due raw orders, oldest first.

    Each raw order commits on its own, so this runs outside any caller's transaction.
    """
    limit = limit or settings.CHANNEL_CONVERT_BATCH
    now = timezone.now()
    queryset = RawOrder.objects.select_related("shop").filter(status=RawOrder.Status.PENDING)
    if raw_order_ids is not None:
        queryset = queryset.filter(pk__in=raw_order_ids)
    else:
        queryset = queryset.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    raws = list(queryset.order_by("id")[:limit])
    report = ConversionReport()
    if not raws:
        return report
    parsed: dict[int, NormalizedOrder] = {}
    for raw in raws:
        try:
            parsed[raw.pk] = adapter_for(raw.shop).parse_order(raw.payload)
        except (PayloadError, AttributeError) as exc:
            _record_failure(raw, ConversionFailed(ChannelErrorCode.INVALID_PAYLOAD, str(exc), retryable=False))
            report.failed.append(raw.pk)
    mappings = _mappings_for(raws, parsed)
    existing = {
        (order.shop_id, order.platform_order_id): order
        for order in Order.objects.filter(
            shop_id__in={raw.shop_id for raw in raws}, platform_order_id__in={raw.platform_order_id for raw in raws}
        )
    }
    fresh = [
        raw
        for raw in raws
        if raw.pk in parsed and (raw.shop_id, raw.platform_order_id) not in existing and _is_new_paid(parsed[raw.pk])
    ]
    done = _convert_new_paid(fresh, parsed, mappings=mappings, actor=actor, report=report) if fresh else set()
    for raw in raws:
        normalized = parsed.get(raw.pk)
        if normalized is None or raw.pk in done:
            continue
        try:
            with transaction.atomic():
                locked = (
                    RawOrder.objects.select_for_update(skip_locked=skip_locked())
                    .filter(pk=raw.pk, payload_hash=raw.payload_hash, status=RawOrder.Status.PENDING)
                    .first()
                )
                if locked is None:
                    continue
                locked.shop = raw.shop
                outcome = _convert_locked(
                    locked,
                    normalized,
                    mappings=mappings,
                    order=existing.get((raw.shop_id, raw.platform_order_id)),
                    actor=actor,
                )
        except ConversionFailed as exc:
            _record_failure(raw, exc)
            report.failed.append(raw.pk)
            continue
        except ApplicationError as exc:
            _record_failure(raw, ConversionFailed(ChannelErrorCode.CONVERSION_FAILED, exc.message, retryable=True))
            report.failed.append(raw.pk)
            continue
        except Exception as exc:
            # One broken order must not stop the batch: record it for staff and go on.
            logger.exception("raw order %s failed to convert", raw.pk)
            message = f"{type(exc).__name__}: {exc}"
            _record_failure(raw, ConversionFailed(ChannelErrorCode.CONVERSION_FAILED, message, retryable=True))
            report.failed.append(raw.pk)
            continue
        getattr(report, outcome).append(raw.pk)
    return report


def _is_new_paid(normalized: NormalizedOrder) -> bool:
    """A paid, open platform order without refund requests: created in bulk (the rest go one
    by one below, where refunds are applied)."""
    return normalized.is_paid and normalized.status == NormalizedStatus.PAID and not normalized.refunds


def _lines_for(raw: RawOrder, normalized: NormalizedOrder, mappings: dict) -> list[OrderLineInput]:
    """The order lines of ``normalized``; ``ConversionFailed`` names the unmapped SKUs."""
    lines, unmapped = [], []
    for line in normalized.lines:
        sku_id = mappings.get((raw.shop_id, f"sku:{line.platform_sku_id}")) or mappings.get(
            (raw.shop_id, f"outer:{line.outer_id}")
        )
        if sku_id is None:
            unmapped.append(line.platform_sku_id or line.outer_id)
            continue
        lines.append(
            OrderLineInput(
                sku_id=sku_id,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount_amount=line.discount_amount,
                platform_sku_id=line.platform_sku_id,
                name=line.title,
            )
        )
    if unmapped:
        raise ConversionFailed(
            ChannelErrorCode.UNMAPPED_SKU,
            _("No SKU mapping for platform SKU(s) %(ids)s of shop %(shop)s; add the mapping and it converts.")
            % {"ids": ", ".join(unmapped), "shop": raw.shop.code},
            retryable=False,
        )
    return lines


def _draft(raw: RawOrder, normalized: NormalizedOrder, lines: list[OrderLineInput]) -> OrderDraft:
    """The order a paid platform order becomes: platform prices, held when short of stock."""
    return OrderDraft(
        shop=raw.shop,
        buyer_id=normalized.buyer_id or f"{raw.shop.platform}:{raw.platform_order_id}",
        lines=lines,
        recipient=_recipient(normalized),
        paid=PaidInput(amount=normalized.paid_amount, paid_at=normalized.paid_at, method=raw.shop.platform),
        platform_order_id=raw.platform_order_id,
        discount_amount=normalized.discount_amount,
        shipping_fee=normalized.shipping_fee,
        buyer_message=normalized.buyer_message,
        on_shortage=ON_SHORTAGE_HOLD,
    )


def _convert_new_paid(
    raws: list[RawOrder], parsed: dict[int, NormalizedOrder], *, mappings: dict, actor: str, report: ConversionReport
) -> set[int]:
    """Create the orders of new paid raw orders together (``orders_create``):
    a fixed number of queries for the batch. Returns the raw orders settled here; the rest
    (the batch failed as a whole, or a raw order changed meanwhile) go one by one.
    """
    failures: list[tuple[RawOrder, ConversionFailed]] = []
    converted: list[RawOrder] = []
    try:
        with transaction.atomic():
            locked = {
                row.pk: row
                for row in RawOrder.objects.select_for_update(skip_locked=skip_locked()).filter(
                    pk__in=[raw.pk for raw in raws], status=RawOrder.Status.PENDING
                )
            }
            batch: list[tuple[RawOrder, OrderDraft]] = []
            for raw in raws:
                row = locked.get(raw.pk)
                if row is None or row.payload_hash != raw.payload_hash:
                    continue
                row.shop = raw.shop
                try:
                    batch.append((row, _draft(row, parsed[raw.pk], _lines_for(row, parsed[raw.pk], mappings))))
                except ConversionFailed as exc:
                    failures.append((row, exc))
            results = orders_create([draft for _row, draft in batch], actor=actor)
            for (row, _unused), result in zip(batch, results, strict=True):
                if isinstance(result, ApplicationError):
                    failures.append(
                        (row, ConversionFailed(ChannelErrorCode.CONVERSION_FAILED, result.message, retryable=True))
                    )
                    continue
                _settle(row, status=RawOrder.Status.CONVERTED, order=result)
                converted.append(row)
            RawOrder.objects.bulk_update(converted, fields=SETTLED_FIELDS)
    except Exception:
        logger.warning("batch conversion of %d raw orders failed; converting them one by one", len(raws), exc_info=True)
        return set()
    for row, exc in failures:
        _record_failure(row, exc)
        report.failed.append(row.pk)
    report.converted.extend(row.pk for row in converted)
    return {row.pk for row in converted} | {row.pk for row, _exc in failures}


def _mappings_for(raws: list[RawOrder], parsed: dict[int, NormalizedOrder]) -> dict[tuple[int, str], int]:
    """{(shop_id, "sku:<platform sku id>" | "outer:<outer id>"): sku_id} for the batch, one query."""
    shop_ids = {raw.shop_id for raw in raws}
    sku_ids = {line.platform_sku_id for order in parsed.values() for line in order.lines if line.platform_sku_id}
    outer_ids = {line.outer_id for order in parsed.values() for line in order.lines if line.outer_id}
    rows = SkuMapping.objects.filter(shop_id__in=shop_ids).filter(
        Q(platform_sku_id__in=sku_ids) | Q(outer_id__in=outer_ids)
    )
    mappings: dict[tuple[int, str], int] = {}
    for shop_id, platform_sku_id, outer_id, sku_id in rows.values_list(
        "shop_id", "platform_sku_id", "outer_id", "sku_id"
    ):
        mappings[(shop_id, f"sku:{platform_sku_id}")] = sku_id
        if outer_id:
            mappings.setdefault((shop_id, f"outer:{outer_id}"), sku_id)
    return mappings


def _record_failure(raw: RawOrder, exc: ConversionFailed) -> None:
    """Mark the raw order failed unless a newer payload replaced it meanwhile."""
    attempts = raw.attempts + 1
    retry = exc.retryable and attempts < settings.CHANNEL_CONVERT_MAX_ATTEMPTS
    RawOrder.objects.filter(pk=raw.pk, payload_hash=raw.payload_hash).update(
        status=RawOrder.Status.FAILED,
        error_code=exc.code,
        error=exc.message[:4000],
        attempts=F("attempts") + 1,
        next_attempt_at=timezone.now() + _backoff(attempts) if retry else None,
        updated_at=timezone.now(),
    )


SETTLED_FIELDS = [
    "status",
    "error_code",
    "error",
    "attempts",
    "next_attempt_at",
    "order",
    "aftersale_refund_ids",
    "updated_at",
]


def _settle(raw: RawOrder, *, status: str, order: Order | None = None, error: str = "") -> None:
    raw.status = status
    raw.error_code = ""
    raw.error = error
    raw.attempts += 1
    raw.next_attempt_at = None
    raw.updated_at = timezone.now()
    if order is not None:
        raw.order = order


def _finish(raw: RawOrder, *, status: str, order: Order | None = None, error: str = "") -> None:
    _settle(raw, status=status, order=order, error=error)
    raw.save(update_fields=SETTLED_FIELDS)


def _convert_locked(
    raw: RawOrder, normalized: NormalizedOrder, *, mappings: dict, order: Order | None, actor: str
) -> str:
    if order is not None:
        note = _apply_update(raw, normalized, order=order, actor=actor)
        _finish(raw, status=RawOrder.Status.CONVERTED, order=order, error=note)
        return "updated"
    if normalized.status == NormalizedStatus.WAIT_PAY or not normalized.is_paid:
        _finish(raw, status=RawOrder.Status.IGNORED, error=_("Not paid on the platform yet; converted once paid."))
        return "ignored"
    if normalized.status == NormalizedStatus.CANCELLED:
        _finish(raw, status=RawOrder.Status.IGNORED, error=_("Cancelled on the platform before it was converted."))
        return "ignored"
    if normalized.status in (NormalizedStatus.SHIPPED, NormalizedStatus.COMPLETED):
        _finish(
            raw,
            status=RawOrder.Status.IGNORED,
            error=_("Already shipped on the platform before it reached the OMS; not imported."),
        )
        return "ignored"
    (order,) = orders_create([_draft(raw, normalized, _lines_for(raw, normalized, mappings))], actor=actor)
    if isinstance(order, ApplicationError):
        raise order
    new_refunds = _new_refunds(raw, normalized)
    if new_refunds and _apply_refunds(raw, new_refunds, order=order, actor=actor):
        _finish(raw, status=RawOrder.Status.CONVERTED, order=order)
        return "converted"
    if normalized.status == NormalizedStatus.LOCKED:
        order = order_hold(
            order_no=order.order_no, actor=actor, reason=_locked_reason(normalized), code=PLATFORM_LOCKED
        )
    _finish(raw, status=RawOrder.Status.CONVERTED, order=order)
    return "converted"


def _recipient(normalized: NormalizedOrder) -> RecipientInput:
    return RecipientInput(
        name=normalized.recipient_name,
        phone=normalized.recipient_phone,
        province=normalized.province,
        city=normalized.city,
        district=normalized.district,
        address=normalized.address,
    )


def _apply_update(raw: RawOrder, normalized: NormalizedOrder, *, order: Order, actor: str) -> str:
    """Apply a changed platform payload to the formal order it became; returns a note for
    the raw order when something the platform asked for could not be done ("" otherwise)."""
    order = Order.objects.get(pk=order.pk)  # the batch read may be stale; FSM fields cannot be refreshed
    if normalized.status == NormalizedStatus.CANCELLED:
        if order.status in NOT_SHIPPED_STATUSES:
            _cancel(order, actor=actor, reason=_("Cancelled on the platform."))
        elif order.status in SHIPPED_STATUSES:
            _hand_to_aftersales(raw, order=order, refunds=normalized.refunds)
        return ""
    # Refunds first: a platform usually locks an order while a refund it carries is pending.
    new_refunds = _new_refunds(raw, normalized)
    if new_refunds and _apply_refunds(raw, new_refunds, order=order, actor=actor):
        return ""
    if normalized.status == NormalizedStatus.LOCKED:
        return _lock(raw, normalized, order=order, actor=actor)
    if not new_refunds and order.status in NOT_SHIPPED_STATUSES and _address_changed(order, normalized):
        order_update_address(order_no=order.order_no, recipient=_recipient(normalized), actor=actor)
    if normalized.status == NormalizedStatus.PAID:
        _unlock(normalized, order=order, actor=actor)
    return ""


def _new_refunds(raw: RawOrder, normalized: NormalizedOrder) -> list[NormalizedRefund]:
    """The platform's refund requests not acted on yet (by refund id)."""
    return [r for r in normalized.refunds if r.platform_refund_id not in raw.aftersale_refund_ids]


def _apply_refunds(raw: RawOrder, refunds: list[NormalizedRefund], *, order: Order, actor: str) -> bool:
    """Act on new refund requests of the platform; returns True when they cancelled the order.

    Before shipment, refunds that with those already made cover what was paid cancel the
    order (refunded on the platform). Any other (after shipment, or part of an unshipped
    order) goes to after-sales, which handles the lines asked back. Either way the refund
    ids are recorded on the raw order, so each is acted on once.
    """
    requested = sum((refund.amount for refund in refunds), start=order.refunded_amount)
    if order.status in NOT_SHIPPED_STATUSES and refunds_cover_payment(paid=order.paid_amount, refunded=requested):
        _cancel(order, actor=actor, reason=_("Refunded on the platform before shipment."))
        raw.aftersale_refund_ids = [*raw.aftersale_refund_ids, *(r.platform_refund_id for r in refunds)]
        return True
    if order.status in NOT_SHIPPED_STATUSES | SHIPPED_STATUSES:
        _hand_to_aftersales(raw, order=order, refunds=refunds)
    return False


def _locked_reason(normalized: NormalizedOrder) -> str:
    return _(
        "Locked on the platform (%(status)s): a cancellation or after-sale is pending, or the order is "
        "paused. The hold is lifted once the platform unlocks it."
    ) % {"status": normalized.platform_status}


def _locked_alert_key(order: Order) -> str:
    return f"channel-order-locked:{order.order_no}"


def _lock(raw: RawOrder, normalized: NormalizedOrder, *, order: Order, actor: str) -> str:
    """The platform locked an order we have: hold it if it is paid, or add the platform's
    reason to its hold; an allocated one cannot be held, so staff are alerted to stop its
    shipment. Never cancels anything."""
    if order.status in (S.PAID, S.ON_HOLD):
        order_hold(order_no=order.order_no, actor=actor, reason=_locked_reason(normalized), code=PLATFORM_LOCKED)
        return ""
    if order.status != S.PENDING_SHIPMENT:
        return ""  # shipped (after-sales reach us through their own API), or closed
    note = _(
        "Locked on the platform (%(status)s) after it was allocated; it cannot be held here. "
        "Stop its shipment if the platform cancels it."
    ) % {"status": normalized.platform_status}
    alert_raise(
        kind="channel_order_locked",
        dedup_key=_locked_alert_key(order),
        message=_("Order %(order_no)s of shop %(shop)s: %(note)s")
        % {"order_no": order.order_no, "shop": raw.shop.code, "note": note},
        details={"shop_id": raw.shop_id, "order_no": order.order_no, "platform_status": normalized.platform_status},
    )
    return note


def _unlock(normalized: NormalizedOrder, *, order: Order, actor: str) -> None:
    """The platform says the order is paid (no longer locked): lift its ``platform_locked``
    hold, if it has one, and resolve its ``channel_order_locked`` alert. Changes nothing
    the second time."""
    if order.status == S.ON_HOLD and any(r.get("code") == PLATFORM_LOCKED for r in order.hold_reasons or []):
        order_remove_hold_reason(
            order_no=order.order_no,
            code=PLATFORM_LOCKED,
            actor=actor,
            remark=_("Unlocked on the platform (%(status)s).") % {"status": normalized.platform_status},
        )
    alert_resolve(dedup_key=_locked_alert_key(order))


def _cancel(order: Order, *, actor: str, reason: str) -> None:
    """Apply a platform-side cancellation of an order that has not shipped.

    Unpaid or allocated orders are cancelled. A paid or held order cannot be cancelled in
    our lifecycle: the platform has already given the buyer's money back, so the order is
    refunded in full (its stock is released) and the refund recorded as done. An allocated
    order was paid on the platform too: once cancelled, the platform's refund of what was
    still paid is recorded the same way (``order_cancel`` only gives back our own payments).
    """
    amount = order.paid_amount - order.refunded_amount
    refund_id = f"platform-cancel:{order.order_no}"
    if order.status in (S.PAID, S.ON_HOLD):
        order_request_refund(order_no=order.order_no, amount=amount, actor=actor, remark=reason)
        order_record_refund(order_no=order.order_no, amount=amount, actor=actor, refund_id=refund_id)
        return
    if order.status not in (S.PENDING_PAYMENT, S.PENDING_SHIPMENT):
        raise ConversionFailed(
            ChannelErrorCode.ORDER_UPDATE_FAILED,
            _("Order %(order_no)s was cancelled on the platform but cannot be cancelled while %(status)s; retried.")
            % {"order_no": order.order_no, "status": order.get_status_display()},
            retryable=True,
        )
    intercepted = order.status == S.PENDING_SHIPMENT
    order_cancel(order_no=order.order_no, actor=actor, reason=reason)
    if intercepted and amount > 0:
        order_record_refund(order_no=order.order_no, amount=amount, actor=actor, refund_id=refund_id)


def _address_changed(order: Order, normalized: NormalizedOrder) -> bool:
    return (order.recipient_name, order.recipient_phone, order.province, order.city, order.district, order.address) != (
        normalized.recipient_name,
        normalized.recipient_phone,
        normalized.province,
        normalized.city,
        normalized.district,
        normalized.address,
    )


def _hand_to_aftersales(raw: RawOrder, *, order: Order, refunds) -> None:
    lines_by_platform_sku = {line.platform_sku_id: line for line in order.lines.all() if line.platform_sku_id}
    for refund in refunds:
        if refund.platform_refund_id in raw.aftersale_refund_ids:
            continue
        lines = [
            {"sku_id": lines_by_platform_sku[sku].sku_id, "quantity": lines_by_platform_sku[sku].quantity}
            for sku in refund.platform_sku_ids
            if sku in lines_by_platform_sku
        ]
        outbox_publish(
            topic="channel.aftersale_requested",
            aggregate_type="order",
            aggregate_id=order.order_no,
            payload={
                "shop_id": raw.shop_id,
                "order_no": order.order_no,
                "platform_refund_id": refund.platform_refund_id,
                "type": refund.kind,
                "amount": f"{refund.amount:.2f}",
                "reason": refund.reason,
                "lines": lines,
            },
        )
        raw.aftersale_refund_ids = [*raw.aftersale_refund_ids, refund.platform_refund_id]


def raw_orders_requeue(*, raw_order_ids: list[int], actor: str) -> int:
    """Put failed or ignored raw orders back in the queue (admin "retry"). Returns how many."""
    with transaction.atomic():
        count = RawOrder.objects.filter(
            pk__in=raw_order_ids, status__in=(RawOrder.Status.FAILED, RawOrder.Status.IGNORED)
        ).update(status=RawOrder.Status.PENDING, attempts=0, next_attempt_at=timezone.now(), updated_at=timezone.now())
        logger.info("%s re-queued %s raw orders", actor, count)
        if count:
            from apps.channels.services.raw_orders import conversion_kick

            transaction.on_commit(conversion_kick)
    return count


def raw_orders_ignore(*, raw_order_ids: list[int], actor: str) -> int:
    """Stop converting pending or failed raw orders (admin "ignore"). Returns how many."""
    with transaction.atomic():
        count = RawOrder.objects.filter(
            pk__in=raw_order_ids, status__in=(RawOrder.Status.PENDING, RawOrder.Status.FAILED)
        ).update(
            status=RawOrder.Status.IGNORED,
            next_attempt_at=None,
            error=_("Ignored by %(actor)s.") % {"actor": actor},
            updated_at=timezone.now(),
        )
    return count


def raw_orders_requeue_due(*, actor: str) -> int:
    """Compensation: failed raw orders whose retry time has come go back to pending, and so
    do those that failed for an unmapped SKU when a mapping of their shop changed since
    (``sku_mapping_save`` re-queues at once; this covers mappings saved any other way)."""
    now = timezone.now()
    mapped_since = SkuMapping.objects.filter(shop_id=OuterRef("shop_id"), updated_at__gt=OuterRef("updated_at"))
    with transaction.atomic():
        count = RawOrder.objects.filter(
            status=RawOrder.Status.FAILED, next_attempt_at__isnull=False, next_attempt_at__lte=now
        ).update(status=RawOrder.Status.PENDING, updated_at=now)
        count += (
            RawOrder.objects.filter(status=RawOrder.Status.FAILED, error_code=ChannelErrorCode.UNMAPPED_SKU)
            .filter(Exists(mapped_since))
            .update(status=RawOrder.Status.PENDING, next_attempt_at=now, updated_at=now)
        )
    if count:
        logger.info("%s re-queued %s failed raw orders for another attempt", actor, count)
    return count
