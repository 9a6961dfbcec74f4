"""Collecting money: start a payment, apply what the provider says (callback or active query),
close abandoned payments.

Every result from a provider goes through ``payment_apply_trade`` under a row lock on the
payment, so a callback and an active query racing each other apply it exactly once.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.alerts import alert_raise
from apps.core.exceptions import ApplicationError, Conflict, NotFound, Unprocessable
from apps.core.money import to_money
from apps.core.numbers import next_number
from apps.core.outbox import outbox_publish
from apps.payments import selectors
from apps.payments.error_codes import PaymentErrorCode
from apps.payments.models import Payment, PaymentNotification, PaymentStatus, Provider
from apps.payments.providers import get_provider
from apps.payments.providers.base import (
    ALREADY_PAID,
    Notification,
    NotificationInvalid,
    ProviderRefused,
    ProviderUnavailable,
    Reply,
    SignatureInvalid,
    TradeResult,
    TradeState,
)
from apps.payments.providers.config import (
    ProviderMisconfigured,
    ensure_configured,
    provider_configured,
    provider_problems,
)

logger = logging.getLogger(__name__)

# Headers worth keeping with a raw notification (the rest is proxy noise).
_KEPT_HEADERS = ("content-type", "user-agent", "request-id")


@dataclass(frozen=True)
class PaymentStart:
    payment: Payment
    client_params: dict


def notify_url(provider: str) -> str:
    return f"{settings.PAYMENT_NOTIFY_BASE_URL.rstrip('/')}/api/v1/payments/callbacks/{provider}"


def _provider_or_error(provider: str):
    if provider not in Provider.values:
        raise Unprocessable(
            PaymentErrorCode.UNKNOWN_PROVIDER,
            _("Unknown payment provider %(provider)s.") % {"provider": provider},
            {"choices": list(Provider.values)},
        )
    try:
        return get_provider(provider)
    except ProviderMisconfigured as exc:
        logger.error("payment provider %s cannot be used: %s", provider, exc)
        raise ApplicationError(
            PaymentErrorCode.PROVIDER_UNAVAILABLE,
            _("Payments with %(provider)s are unavailable at the moment; please try another way to pay or retry later.")
            % {"provider": Provider(provider).label},
            {"provider": provider},
            status_code=503,
        ) from exc


def payment_start(
    *,
    order_no: str,
    amount: Decimal,
    provider: str,
    description: str,
    actor: str,
    expires_at: datetime | None = None,
) -> PaymentStart:
    """Open a payment for ``order_no`` at ``provider`` and return what the buyer's client needs.

    ``expires_at`` is the order's payment deadline, sent to the provider as the trade's
    ``time_expire`` so its QR code stops taking money when we stop accepting it; without it,
    the payment's own deadline (``PAYMENT_DEADLINE_MINUTES`` from now, when the sweep closes
    it). An open payment of the same order, provider and amount is reused (its code_url is
    still valid), so a client that retries does not open a second trade. Does network I/O:
    never call it inside another app's transaction.
    """
    amount = to_money(amount)
    if amount <= 0:
        raise Unprocessable(PaymentErrorCode.INVALID_AMOUNT, _("The amount to pay must be positive."))
    now = timezone.now()
    if expires_at is None:
        expires_at = now + timedelta(minutes=settings.PAYMENT_DEADLINE_MINUTES)
    if expires_at <= now:
        raise Conflict(
            PaymentErrorCode.ORDER_NOT_PAYABLE,
            _("The payment deadline of order %(order_no)s has passed.") % {"order_no": order_no},
            {"expires_at": expires_at.isoformat()},
        )
    strategy = _provider_or_error(provider)
    with transaction.atomic():
        if Payment.objects.filter(order_no=order_no, status=PaymentStatus.SUCCEEDED).exists():
            raise Conflict(
                PaymentErrorCode.ORDER_ALREADY_PAID,
                _("Order %(order_no)s is already paid.") % {"order_no": order_no},
            )
        for existing in Payment.objects.filter(
            order_no=order_no, provider=provider, status=PaymentStatus.CREATED, amount=amount, flagged_for_finance=False
        ).order_by("-id"):
            if existing.client_params:
                return PaymentStart(payment=existing, client_params=existing.client_params)
        payment = Payment.objects.create(
            order_no=order_no,
            provider=provider,
            out_trade_no=next_number(),
            amount=amount,
            description=description[:127],
            created_by=actor,
        )
    try:
        params = strategy.create_payment(
            out_trade_no=payment.out_trade_no,
            amount=amount,
            description=payment.description or order_no,
            notify_url=notify_url(provider),
            expires_at=expires_at,
        )
    except ProviderUnavailable as exc:
        logger.warning("payment %s: provider %s unavailable: %s", payment.out_trade_no, provider, exc)
        raise ApplicationError(
            PaymentErrorCode.PROVIDER_UNAVAILABLE,
            _("The payment provider is not answering; please try again shortly."),
            status_code=503,
        ) from exc
    except ProviderRefused as exc:
        raise ApplicationError(
            PaymentErrorCode.PROVIDER_REFUSED,
            _("The payment provider refused the payment: %(reason)s") % {"reason": exc.message or exc.code},
            {"provider_code": exc.code},
            status_code=502,
        ) from exc
    Payment.objects.filter(pk=payment.pk).update(client_params=params, updated_at=timezone.now())
    payment.client_params = params
    return PaymentStart(payment=payment, client_params=params)


def _payment_event(payment: Payment) -> dict:
    return {
        "order_no": payment.order_no,
        "payment_id": payment.pk,
        "out_trade_no": payment.out_trade_no,
        "amount": str(payment.amount),
        "paid_at": payment.paid_at.isoformat() if payment.paid_at else None,
        "provider": payment.provider,
    }


def payment_apply_trade(*, trade: TradeResult, actor: str) -> tuple[Payment, str]:
    """Apply the provider's view of a trade. Returns the payment and what happened
    (``paid``, ``duplicate``, ``amount_mismatch``, ``closed``, ``failed``, ``pending``).

    Paid with the expected amount: the payment succeeds (even if we had closed it: the money
    is real) and ``payment.succeeded`` goes to the orders app. Paid with another amount: the
    payment is flagged for finance and ``payment.amount_mismatch`` published; it is not paid,
    and what it received goes back (``payment_refund_received``: finance, the order's
    timeout or cancellation through ``payment_close_for_order``, or at once when another
    payment of the order succeeds, before or after it, or when the payment was already
    closed or failed, e.g. the order timed out before the money arrived).
    """
    with transaction.atomic():
        payment = Payment.objects.select_for_update().filter(out_trade_no=trade.out_trade_no).first()
        if payment is None:
            raise NotFound(
                PaymentErrorCode.PAYMENT_NOT_FOUND,
                _("No payment with trade number %(no)s.") % {"no": trade.out_trade_no},
            )
        now = timezone.now()
        if trade.state == TradeState.PAID:
            if payment.status == PaymentStatus.SUCCEEDED:
                return payment, "duplicate"
            if trade.amount is None or to_money(trade.amount) != payment.amount:
                if payment.flagged_for_finance:
                    return payment, "duplicate"
                payment.flagged_for_finance = True
                payment.flag_reason = _("Provider reports %(paid)s paid, expected %(expected)s.") % {
                    "paid": trade.amount,
                    "expected": payment.amount,
                }
                payment.paid_amount = trade.amount
                payment.transaction_id = trade.transaction_id
                payment.save(
                    update_fields=["flagged_for_finance", "flag_reason", "paid_amount", "transaction_id", "updated_at"]
                )
                outbox_publish(
                    topic="payment.amount_mismatch",
                    aggregate_type="payment",
                    aggregate_id=payment.pk,
                    payload={
                        "order_no": payment.order_no,
                        "payment_id": payment.pk,
                        "amount": str(trade.amount),
                        "expected": str(payment.amount),
                    },
                )
                alert_raise(
                    kind="payment_amount_mismatch",
                    dedup_key=f"payment-amount:{payment.out_trade_no}",
                    message=payment.flag_reason,
                    details={"out_trade_no": payment.out_trade_no, "order_no": payment.order_no},
                )
                if payment.status != PaymentStatus.CREATED:
                    # Closed (the order timed out or was cancelled) or failed: no timeout or
                    # cancellation will come to give it back, so it goes back now.
                    _refund_received(payment, reason=_("The order can no longer be paid."))
                elif Payment.objects.filter(order_no=payment.order_no, status=PaymentStatus.SUCCEEDED).exists():
                    _refund_flagged(payment.order_no, reason=_("The order was already paid by another payment."))
                return payment, "amount_mismatch"
            payment.succeed()
            payment.transaction_id = trade.transaction_id
            payment.paid_amount = payment.amount
            payment.paid_at = trade.paid_at or now
            payment.save(update_fields=["status", "transaction_id", "paid_amount", "paid_at", "updated_at"])
            outbox_publish(
                topic="payment.succeeded",
                aggregate_type="payment",
                aggregate_id=payment.pk,
                payload=_payment_event(payment),
            )
            _refund_flagged(payment.order_no, reason=_("The order was paid by another payment."))
            logger.info("payment %s succeeded (%s)", payment.out_trade_no, actor)
            return payment, "paid"
        if payment.status != PaymentStatus.CREATED:
            return payment, "duplicate"
        if trade.state == TradeState.CLOSED:
            payment.close()
            payment.closed_at = now
            payment.save(update_fields=["status", "closed_at", "updated_at"])
            return payment, "closed"
        if trade.state == TradeState.FAILED:
            payment.fail()
            payment.save(update_fields=["status", "updated_at"])
            return payment, "failed"
        payment.last_queried_at = now
        payment.save(update_fields=["last_queried_at", "updated_at"])
        return payment, "pending"


def _record_notification(*, provider: str, headers: dict[str, str], body: bytes) -> PaymentNotification:
    kept = {k: v for k, v in headers.items() if k.lower().startswith("wechatpay-") or k.lower() in _KEPT_HEADERS}
    return PaymentNotification.objects.create(
        provider=provider, headers=kept, body=body.decode("utf-8", errors="replace")
    )


def payment_notification_handle(*, provider: str, headers: dict[str, str], body: bytes) -> Reply:
    """A provider callback: keep it raw, verify it, apply it, and answer as the provider expects.

    Bad signature: 401, nothing changes. Signed but unusable (another merchant, a trade we do
    not know yet): a failure reply so the provider retries; a trade we do not know also raises
    an alert (one per trade), since money may have been paid that no order of ours records. Anything applied (including
    duplicates and amount mismatches, which finance handles): the success reply, so the
    provider stops retrying.
    """
    if provider not in Provider.values:
        _provider_or_error(provider)
    strategy = get_provider(provider, checked=False)
    record = _record_notification(provider=provider, headers=headers, body=body)
    try:
        ensure_configured(provider)
    except ProviderMisconfigured as exc:
        # Kept raw; the provider sends it again, and once the keys are fixed it is applied.
        logger.error("%s callback not verified (notification %s): %s", provider, record.pk, exc)
        _finish_notification(record, outcome="misconfigured", error=str(exc))
        return strategy.reply_fail(_("temporarily unavailable"), status=503)
    try:
        notification = strategy.parse_notification(headers=headers, body=body)
    except SignatureInvalid as exc:
        logger.warning("%s callback refused (notification %s): %s", provider, record.pk, exc)
        _finish_notification(record, outcome="refused", error=str(exc))
        return strategy.reply_fail(_("signature verification failed"), status=401)
    except NotificationInvalid as exc:
        logger.warning("%s callback unusable (notification %s): %s", provider, record.pk, exc)
        _finish_notification(record, verified=True, outcome="invalid", error=str(exc))
        return strategy.reply_fail(str(exc), status=400)
    try:
        payment, outcome = _apply_notification(notification, actor=f"provider:{provider}")
    except NotFound as exc:
        _finish_notification(record, notification=notification, verified=True, outcome="unknown", error=exc.message)
        alert_raise(
            kind="payment_notification_unknown",
            dedup_key=f"payment-unknown:{provider}:{notification.out_trade_no}",
            message=_(
                "%(provider)s sent a correctly signed notification for trade %(no)s, which we do not know; "
                "it is kept as notification %(id)s for finance."
            )
            % {"provider": provider, "no": notification.out_trade_no, "id": record.pk},
            details={"provider": provider, "out_trade_no": notification.out_trade_no, "notification_id": record.pk},
        )
        return strategy.reply_fail(exc.message, status=404)
    _finish_notification(record, notification=notification, verified=True, outcome=outcome, payment=payment)
    return strategy.reply_ok()


def _apply_notification(notification: Notification, *, actor: str) -> tuple[Payment, str]:
    if notification.refund is not None:
        from apps.payments.services.refunds import refund_apply_result

        refund, outcome = refund_apply_result(result=notification.refund, actor=actor)
        return refund.payment, f"refund_{outcome}"
    return payment_apply_trade(trade=notification.trade, actor=actor)


def _finish_notification(
    record: PaymentNotification,
    *,
    notification: Notification | None = None,
    verified: bool = False,
    outcome: str,
    error: str = "",
    payment: Payment | None = None,
) -> None:
    record.verified = verified
    record.outcome = outcome
    record.error = error[:500]
    record.payment = payment
    if notification is not None:
        record.out_trade_no = notification.out_trade_no[:64]
        record.event_type = notification.event_type[:64]
    record.save(update_fields=["verified", "outcome", "error", "payment", "out_trade_no", "event_type"])


def payment_query(*, payment_id: int, actor: str) -> tuple[Payment, str]:
    """Ask the provider about one payment and apply the answer exactly as a callback would.

    A trade the provider does not know yet stays open: Alipay creates a precreate trade only
    when the buyer scans its QR code, so "not found" is not "failed" (the QR code can still
    be paid). The order's deadline closes it, locally and at the provider, like any other.
    """
    payment = Payment.objects.get(pk=payment_id)
    strategy = get_provider(payment.provider)
    trade = strategy.query_payment(out_trade_no=payment.out_trade_no)
    if trade.state == TradeState.NOT_FOUND:
        trade = TradeResult(out_trade_no=payment.out_trade_no, state=TradeState.PENDING)
    return payment_apply_trade(trade=trade, actor=actor)


def usable_providers(*, job: str) -> set[str]:
    """The providers a beat job may call this run; each misconfigured one is logged once."""
    usable = set()
    for name in Provider.values:
        problems = provider_problems(name)
        if not problems:
            usable.add(name)
        elif provider_configured(name):
            logger.error("%s: skipping %s, misconfigured: %s", job, name, "; ".join(map(str, problems)))
    return usable


def payments_query_open(*, actor: str) -> dict[str, int]:
    """Beat job: query payments still open after ``PAYMENT_QUERY_AFTER_MINUTES`` (lost callbacks).

    Payments of a misconfigured provider wait (counted as ``skipped``) until it is fixed."""
    counts: dict[str, int] = {}
    usable = usable_providers(job="payments.query_open")
    for payment_id, provider in selectors.payments_due_for_query().values_list("pk", "provider")[:500]:
        if provider not in usable:
            counts["skipped"] = counts.get("skipped", 0) + 1
            continue
        try:
            _payment, outcome = payment_query(payment_id=payment_id, actor=actor)
        except ProviderUnavailable as exc:
            logger.warning("active query of payment %s failed: %s", payment_id, exc)
            outcome = "unavailable"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _refund_received(payment: Payment, *, reason: str) -> None:
    from apps.payments.services.refunds import refund_received_locked

    refund_received_locked(payment=payment, reason=reason, actor="system:payments")


def _refund_flagged(order_no: str, *, reason: str) -> None:
    """Once an order is paid, what its flagged payments received goes back to the buyer."""
    from apps.payments.services.refunds import refund_received_locked

    flagged = Payment.objects.select_for_update().filter(
        order_no=order_no, status=PaymentStatus.CREATED, flagged_for_finance=True, paid_amount__gt=0
    )
    for payment in flagged:
        refund_received_locked(payment=payment, reason=reason, actor="system:payments")


def payment_close_for_order(*, order_no: str) -> int:
    """Close the order's open payments (timeout, cancellation). Returns how many were closed.

    No network I/O (it runs inside order transactions): each payment is closed here and a
    ``payment.closed`` event asks our own consumer to close the trade at the provider. A buyer
    who pays in between is still recorded: the provider's success wins over ``closed``.
    A payment flagged for finance that received money (another amount than the payable) is
    not just closed: what it received is refunded (``payment_refund_received``).
    """
    from apps.payments.services.refunds import refund_received_locked

    closed = 0
    with transaction.atomic():
        now = timezone.now()
        for payment in Payment.objects.select_for_update().filter(order_no=order_no, status=PaymentStatus.CREATED):
            if payment.flagged_for_finance and payment.paid_amount:
                refund_received_locked(
                    payment=payment, reason=_("The order can no longer be paid."), actor="system:payments"
                )
                closed += 1
                continue
            payment.close()
            payment.closed_at = now
            payment.save(update_fields=["status", "closed_at", "updated_at"])
            outbox_publish(
                topic="payment.closed",
                aggregate_type="payment",
                aggregate_id=payment.pk,
                payload={"order_no": order_no, "payment_id": payment.pk, "out_trade_no": payment.out_trade_no},
            )
            closed += 1
    return closed


def payment_provider_close(*, payment_id: int, actor: str) -> str:
    """Close a locally closed payment's trade at the provider (the ``payment.closed`` consumer).

    When the provider answers that the buyer already paid, the payment is queried and the
    success applied. Transient errors propagate so the outbox retries.
    """
    payment = Payment.objects.get(pk=payment_id)
    if payment.status != PaymentStatus.CLOSED:
        return "skipped"
    strategy = get_provider(payment.provider)
    try:
        strategy.close_payment(out_trade_no=payment.out_trade_no)
    except ProviderRefused as exc:
        if exc.code != ALREADY_PAID:
            logger.info("closing %s at %s: %s", payment.out_trade_no, payment.provider, exc)
            return "refused"
        payment_apply_trade(trade=strategy.query_payment(out_trade_no=payment.out_trade_no), actor=actor)
        return "paid"
    return "closed"


def payments_close_expired(*, actor: str) -> int:
    """Beat backstop: close open payments older than the payment deadline, order by order."""
    order_nos = set(selectors.payments_past_deadline().values_list("order_no", flat=True)[:500])
    return sum(payment_close_for_order(order_no=order_no) for order_no in sorted(order_nos))
