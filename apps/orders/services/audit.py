"""Audit (审单): the checks a paid order passes before it is allocated.

Rules (settings ``AUDIT_*``): a buyer message (a person should read it), payable above
``AUDIT_MAX_PAYABLE``, an incomplete or suspicious address (too short, or a keyword such as
测试 / test / 自提), a blacklisted phone, a platform order paid below the OMS price of its goods
by more than ``AUDIT_PRICE_ANOMALY_SHARE`` (``price_anomaly``), and a suspected duplicate (same buyer, address and
SKUs within ``AUDIT_DUPLICATE_WINDOW_MINUTES``). A failing order goes ``on_hold`` with
``hold_reasons`` (``[{"code", "message"}]``); a passing one is allocated at once, in the same
transaction. A reason names the rule that matched (the keyword, the other order), never the
recipient's phone, address or the buyer's words: reasons are copied into the timeline, which
staff without the personal-data permission read too. Staff release a held order (back to ``paid`` and audited again) or force it
through (``force=True``: released and allocated without the rules).

A hold may also come from outside: a platform lock holds the order with ``platform_locked``
(``order_hold(code=PLATFORM_LOCKED)``, added once). ``order_remove_hold_reason`` lifts such a
reason when its cause ends: with no reason left the order is released as by staff; with other
reasons (an audit finding, ``out_of_stock``, a staff hold) it stays on hold without it.

An order without an active reservation (held as out of stock when it arrived, see
``services.shortage``) reserves before the rules run; while its stock is short, the audit
holds it with ``out_of_stock`` and a release leaves it on hold. ``orders_retry_out_of_stock``
(beat) releases such orders, oldest first, once stock is received.
"""

import logging
from collections import Counter
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.db import skip_locked
from apps.core.exceptions import ApplicationError, Conflict
from apps.inventory.domain import InsufficientStock
from apps.inventory.selectors import sellable_by_sku
from apps.orders.models import BlacklistedPhone, Order, OrderLine, OrderStatus
from apps.orders.services.allocation import order_allocate_locked
from apps.orders.services.common import order_apply_transition, order_lock, order_record_change
from apps.orders.services.fulfillment import FulfillmentErrorCode
from apps.orders.services.pricing import catalogue_prices
from apps.orders.services.shortage import (
    is_out_of_stock,
    order_hold_out_of_stock,
    order_keep_out_of_stock,
    order_reserve_stock,
    out_of_stock_alerts_resolve,
    out_of_stock_waiting,
)

logger = logging.getLogger(__name__)

MANUAL = "manual"
PLATFORM_LOCKED = "platform_locked"
# Reasons only their owner lifts (staff, or the platform's unlock): the beat job leaves them alone.
WAITS_FOR_OWNER = (MANUAL, PLATFORM_LOCKED)
NOT_DUPLICATE_STATUSES = (OrderStatus.CANCELLED, OrderStatus.PAYMENT_TIMEOUT, OrderStatus.PENDING_PAYMENT)


def _reason(code: str, message: str, **details) -> dict:
    return {"code": code, "message": message, **({"details": details} if details else {})}


def audit_findings(order: Order) -> list[dict]:
    """Every audit rule the order fails, as ``{"code", "message"[, "details"]}``; empty = pass."""
    phone = order.recipient_phone.strip()
    blacklisted = bool(phone) and BlacklistedPhone.objects.filter(phone=phone).exists()
    lines = list(order.lines.all())
    return findings_of(
        order,
        lines=lines,
        blacklisted=blacklisted,
        duplicate=_duplicate_of(order),
        prices=audit_prices({order.pk: (order, lines)}),
    )


def audit_prices(orders: dict[int, tuple[Order, list[OrderLine]]]) -> dict[tuple[int | None, int], Decimal]:
    """The OMS prices the price-anomaly rule compares platform orders with (none to read for
    storefront orders, which the OMS priced itself)."""
    return catalogue_prices(
        {(order.shop_id, line.sku_id) for order, lines in orders.values() if order.platform_order_id for line in lines}
    )


def findings_of(
    order: Order,
    *,
    lines: list[OrderLine],
    blacklisted: bool,
    duplicate: str | None,
    prices: dict[tuple[int | None, int], Decimal],
) -> list[dict]:
    """The findings of ``order`` given what the database said: whether its phone is
    blacklisted, which order it duplicates and the OMS prices of its goods (``audit_batch``
    reads those for many orders)."""
    findings = []
    if settings.AUDIT_HOLD_ON_BUYER_MESSAGE and order.buyer_message.strip():
        # The message itself stays on the order: buyers write phones and addresses into it.
        findings.append(_reason("buyer_message", _("The buyer left a message; read it on the order.")))
    limit = Decimal(settings.AUDIT_MAX_PAYABLE)
    if order.payable_amount > limit:
        findings.append(
            _reason(
                "amount_over_limit",
                _("Payable %(amount)s is above the audit limit %(limit)s.")
                % {"amount": order.payable_amount, "limit": limit},
            )
        )
    required = (order.recipient_name, order.recipient_phone, order.province, order.city, order.address)
    digits = sum(ch.isdigit() for ch in order.recipient_phone)
    if not all(value.strip() for value in required) or digits < 7:
        findings.append(_reason("address_incomplete", _("The recipient's name, phone or address is incomplete.")))
    else:
        address = order.address.strip()
        keywords = [k for k in settings.AUDIT_SUSPICIOUS_ADDRESS_KEYWORDS if k and k.lower() in address.lower()]
        # Name the rule that matched, never the address: reasons are copied into the timeline.
        if keywords:
            findings.append(
                _reason(
                    "address_suspicious",
                    _("The address contains a suspicious keyword: %(keywords)s.") % {"keywords": ", ".join(keywords)},
                    keywords=keywords,
                )
            )
        elif len(address) < settings.AUDIT_MIN_ADDRESS_LENGTH:
            findings.append(
                _reason(
                    "address_suspicious",
                    _("The address is shorter than %(length)d characters.")
                    % {"length": settings.AUDIT_MIN_ADDRESS_LENGTH},
                    keywords=[],
                )
            )
    if blacklisted:
        findings.append(_reason("phone_blacklisted", _("The recipient's phone is blacklisted.")))
    anomaly = _price_anomaly(order, lines, prices)
    if anomaly:
        findings.append(anomaly)
    if duplicate:
        findings.append(
            _reason(
                "suspected_duplicate",
                _("Same buyer, address and items as order %(other)s.") % {"other": duplicate},
                order_no=duplicate,
            )
        )
    return findings


def _price_anomaly(order: Order, lines: list[OrderLine], prices: dict[tuple[int | None, int], Decimal]) -> dict | None:
    """A platform order (it keeps the platform's prices) paid below the OMS's price of its
    goods (shop prices, else list prices) by more than ``AUDIT_PRICE_ANOMALY_SHARE``: a
    mispriced listing or an abused coupon; a person should look before it ships."""
    if not order.platform_order_id:
        return None
    oms_total = sum(
        (
            prices[order.shop_id, line.sku_id] * line.quantity
            for line in lines
            if (order.shop_id, line.sku_id) in prices
        ),
        Decimal(0),
    )
    floor = (oms_total * (1 - Decimal(settings.AUDIT_PRICE_ANOMALY_SHARE))).quantize(Decimal("0.01"))
    if order.paid_amount >= floor:
        return None
    return _reason(
        "price_anomaly",
        _("Paid %(paid)s, below the OMS price %(price)s by more than the allowed share.")
        % {"paid": f"{order.paid_amount:.2f}", "price": f"{oms_total:.2f}"},
        paid=f"{order.paid_amount:.2f}",
        oms_price=f"{oms_total:.2f}",
    )


def _duplicate_of(order: Order) -> str | None:
    window = timedelta(minutes=settings.AUDIT_DUPLICATE_WINDOW_MINUTES)
    if window <= timedelta(0):
        return None
    items = Counter((line.sku_id, line.quantity) for line in order.lines.all())
    candidates = (
        Order.objects.filter(
            shop_id=order.shop_id,
            buyer_id=order.buyer_id,
            recipient_phone=order.recipient_phone,
            province=order.province,
            city=order.city,
            district=order.district,
            address=order.address,
            created_at__gte=order.created_at - window,
            created_at__lte=order.created_at + window,
        )
        .exclude(pk=order.pk)
        .exclude(status__in=NOT_DUPLICATE_STATUSES)
        .prefetch_related("lines")
        .order_by("created_at")
    )
    for other in candidates:
        if Counter((line.sku_id, line.quantity) for line in other.lines.all()) == items:
            return other.order_no
    return None


def _hold(order: Order, findings: list[dict], *, actor: str) -> Order:
    order.hold_reasons = findings
    return order_apply_transition(
        order=order,
        transition="hold",
        actor=actor,
        remark="; ".join(f["message"] for f in findings),
        update_fields=("hold_reasons",),
        extra_payload={"hold_reasons": [f["code"] for f in findings]},
    )


def _audit_locked(order: Order, *, actor: str) -> Order:
    try:
        order_reserve_stock(order=order, actor=actor)
    except InsufficientStock as exc:
        return order_hold_out_of_stock(order=order, shortage=exc, actor=actor, findings=audit_findings(order))
    findings = audit_findings(order)
    if findings:
        return _hold(order, findings, actor=actor)
    order.hold_reasons = []
    order.audited_at = timezone.now()
    return order_allocate_locked(order=order, actor=actor, remark=_("Audit passed; allocated."))


def order_audit(*, order_no: str, actor: str) -> Order:
    """Audit a ``paid`` order: hold it with its reasons, or allocate it (409 if not paid)."""
    with transaction.atomic():
        order = order_lock(order_no=order_no)
        if order.status != OrderStatus.PAID:
            raise Conflict(
                FulfillmentErrorCode.NOT_AUDITABLE,
                _("Order %(order_no)s is %(status)s; only paid orders are audited.")
                % {"order_no": order_no, "status": order.get_status_display()},
                {"status": order.status},
            )
        return _audit_locked(order, actor=actor)


def order_hold(*, order_no: str, actor: str, reason: str, code: str = MANUAL) -> Order:
    """Hold a ``paid`` order until its reason is lifted: staff by hand (code ``manual``, it
    waits for a release), or a platform lock (``platform_locked``). On an order already on
    hold the reason is added: it then waits even when its other reasons clear (the
    out-of-stock beat job leaves it alone). Staff may add several ``manual`` reasons; any
    other code is added once, so holding again with it changes nothing."""
    with transaction.atomic():
        order = order_lock(order_no=order_no)
        added = _reason(code, reason or _("Held by staff."))
        if order.status == OrderStatus.ON_HOLD:
            if code != MANUAL and _has_reason(order, code):
                return order
            order.hold_reasons = [*(order.hold_reasons or []), added]
            return order_record_change(
                order=order,
                actor=actor,
                remark=added["message"],
                update_fields=("hold_reasons",),
                extra_payload={"hold_reasons": [r["code"] for r in order.hold_reasons]},
            )
        return _hold(order, [added], actor=actor)


def _has_reason(order: Order, code: str) -> bool:
    return any(reason.get("code") == code for reason in order.hold_reasons or [])


def order_remove_hold_reason(*, order_no: str, code: str, actor: str, remark: str) -> Order:
    """Lift the hold reason(s) ``code`` of an ``on_hold`` order (its cause is gone, e.g. the
    platform unlocked the order). With no other reason left the order is released as by
    ``order_release`` (stock reserved first, audited again; still short -> on hold with
    ``out_of_stock``); with others it stays on hold, the reason removed and logged with
    ``remark``. An order not on hold, or without that reason, is returned unchanged."""
    with transaction.atomic():
        order = order_lock(order_no=order_no)
        if order.status != OrderStatus.ON_HOLD or not _has_reason(order, code):
            return order
        others = [reason for reason in order.hold_reasons if reason.get("code") != code]
        if not others:
            return _release_locked(order, actor=actor, remark=remark)
        order.hold_reasons = others
        return order_record_change(
            order=order,
            actor=actor,
            remark=_("%(remark)s Still on hold: %(reasons)s")
            % {"remark": remark, "reasons": "; ".join(reason["message"] for reason in others)},
            update_fields=("hold_reasons",),
            extra_payload={"hold_reasons": [reason["code"] for reason in others]},
        )


def order_release(*, order_no: str, actor: str, remark: str = "", force: bool = False) -> Order:
    """Release a held order back to ``paid`` and audit it again; ``force`` skips the rules
    (staff have looked at the reasons) and allocates it directly.

    An order without an active reservation reserves first; while its stock is short it stays
    ``on_hold`` with reason ``out_of_stock`` (returned, not an error)."""
    with transaction.atomic():
        order = order_lock(order_no=order_no)
        return _release_locked(order, actor=actor, remark=remark, force=force)


def _release_locked(order: Order, *, actor: str, remark: str = "", force: bool = False) -> Order:
    if order.status == OrderStatus.ON_HOLD:
        try:
            order_reserve_stock(order=order, actor=actor)
        except InsufficientStock as exc:
            return order_keep_out_of_stock(order=order, shortage=exc, actor=actor)
    order_apply_transition(
        order=order,
        transition="release",
        actor=actor,
        remark=remark or (_("Released; audit passed by staff.") if force else _("Released for a new audit.")),
    )
    if force:
        order.hold_reasons = []
        order.audited_at = timezone.now()
        return order_allocate_locked(
            order=order, actor=actor, remark=_("Audit passed by %(actor)s; allocated.") % {"actor": actor}
        )
    return _audit_locked(order, actor=actor)


RETRY_BATCH = 200


def orders_retry_out_of_stock(*, actor: str, batch_size: int = RETRY_BATCH) -> list[str]:
    """Beat: release orders held as out of stock, oldest first, so they reserve and go on to
    the audit once stock is received. Returns the numbers of the orders that left the
    out-of-stock hold; the rest stay held, untouched while their shortage is unchanged.

    An order is tried only when each SKU it waits for has at least the missing quantity
    available somewhere (one query for all); the reservation decides. Orders another process
    holds locked are skipped (``SKIP LOCKED``): a staff release is deciding them; so are orders
    staff also held by hand (reason ``manual``) or the platform locked (``platform_locked``):
    they wait for a staff release or the platform's unlock. Idempotent.
    At the end, alerts of SKUs no held order waits for any more are resolved.
    """
    waiting = out_of_stock_waiting()
    available = sellable_by_sku(sorted({sku_id for _no, needs in waiting for sku_id in needs}))
    moved: list[str] = []
    tried = 0
    for order_no, needs in waiting:
        if tried >= batch_size:
            break
        if any(available.get(sku_id, 0) < max(requested, 1) for sku_id, requested in needs.items()):
            continue
        tried += 1
        try:
            with transaction.atomic():
                order = Order.objects.select_for_update(skip_locked=skip_locked()).filter(order_no=order_no).first()
                if order is None or not is_out_of_stock(order):
                    continue
                if any(reason.get("code") in WAITS_FOR_OWNER for reason in order.hold_reasons):
                    continue  # staff or the platform hold it too: their release reserves first
                order = _release_locked(order, actor=actor, remark=_("Stock received; released for a new audit."))
        except ApplicationError as exc:
            logger.warning("out-of-stock order %s could not be released: %s", order_no, exc.message)
            continue
        if not is_out_of_stock(order):
            moved.append(order_no)
    out_of_stock_alerts_resolve(waiting_sku_ids={sku_id for _no, needs in out_of_stock_waiting() for sku_id in needs})
    return moved
