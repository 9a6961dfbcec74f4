"""Giving money back: request (no I/O, inside the caller's transaction), submit to the provider
(outbox consumer, then the beat job with capped exponential backoff), complete by callback or
query.

Every refund names the payment whose trade it goes back to: ``refund_request`` takes the
trade, ``refund_request_for_order`` splits an order's refund over the payments that hold the
money. The rule finance cares about: the refunds that are requested, processing or succeeded
against a payment never add up to more than it collected. It is checked with the payment
rows locked, so two concurrent refund requests are decided one after the other.
Money a payment flagged for finance received (another amount than the payable) was never
the order's: ``payment_refund_received`` gives it back, and its success is published as
``payment.received_refunded``, not as a refund of the order.
"""

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.alerts import alert_raise, alert_resolve
from apps.core.exceptions import Conflict, NotFound, Unprocessable
from apps.core.models import Alert
from apps.core.money import ZERO, to_money
from apps.core.numbers import next_number
from apps.core.outbox import outbox_publish
from apps.payments import selectors
from apps.payments.error_codes import PaymentErrorCode
from apps.payments.models import REFUND_COUNTING_STATUSES, Payment, PaymentStatus, Refund, RefundStatus
from apps.payments.providers import get_provider
from apps.payments.providers.base import ProviderRefused, ProviderUnavailable, RefundResult, RefundState
from apps.payments.services.payments import notify_url

logger = logging.getLogger(__name__)

# A refund the provider reports as processing is asked about again after this long.
PROCESSING_QUERY_DELAY = timedelta(minutes=1)
# Refusals the providers document as temporary ("call again later with the same request"):
# WeChat Pay v3 refunds (merchant balance short, system error, rate limited) and Alipay.
# They are retried with the backoff like an unreachable provider; any other refusal is final.
RETRYABLE_REFUSALS = frozenset(
    {"NOT_ENOUGH", "SYSTEM_ERROR", "FREQUENCY_LIMITED", "ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR"}
)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** (attempts - 1), 3600))


def _refund_event(refund: Refund) -> dict:
    return {
        "order_no": refund.order_no,
        "refund_id": refund.pk,
        "reference": refund.reference,
        "amount": str(refund.amount),
    }


def _checked_request(amount: Decimal, reference: str) -> Decimal:
    amount = to_money(amount)
    if amount <= 0:
        raise Unprocessable(PaymentErrorCode.INVALID_AMOUNT, _("The refund amount must be positive."))
    if not reference or len(reference) > 64:
        raise Unprocessable(PaymentErrorCode.INVALID_AMOUNT, _("A refund needs a reference of 1 to 64 characters."))
    return amount


def _reference_reused(reference: str, existing: list[Refund]) -> Conflict:
    return Conflict(
        PaymentErrorCode.REFUND_REFERENCE_REUSED,
        _("Refund reference %(reference)s was already used for another refund.") % {"reference": reference},
        {"order_no": existing[0].order_no, "amount": str(sum((r.amount for r in existing), ZERO))},
    )


def _held(payments: list[Payment]) -> dict[int, Decimal]:
    """What each succeeded payment still holds: its amount less the refunds counting against it."""
    counted = dict(
        Refund.objects.filter(payment__in=payments, status__in=REFUND_COUNTING_STATUSES)
        .values_list("payment_id")
        .annotate(total=Sum("amount"))
    )
    return {
        p.pk: (p.amount - counted.get(p.pk, ZERO)) if p.status == PaymentStatus.SUCCEEDED else ZERO for p in payments
    }


def _create_refund(*, payment: Payment, amount: Decimal, reason: str, reference: str, actor: str) -> Refund:
    refund = Refund.objects.create(
        payment=payment,
        order_no=payment.order_no,
        reference=reference,
        out_refund_no=next_number(),
        amount=amount,
        reason=reason[:255],
        requested_by=actor,
        next_attempt_at=timezone.now(),
    )
    outbox_publish(
        topic="refund.requested", aggregate_type="refund", aggregate_id=refund.pk, payload=_refund_event(refund)
    )
    return refund


def refund_request(*, out_trade_no: str, amount: Decimal, reason: str, reference: str, actor: str) -> Refund:
    """Give ``amount`` back to the buyer through the trade ``out_trade_no`` that paid it.

    Idempotent by ``reference``: the same reference returns the existing refund (another
    payment or amount under it is refused). Raises ``Conflict(refund_exceeds_paid)`` when the
    payment (succeeded) does not still hold ``amount``, checked under its row lock. No network
    I/O: safe inside an order transaction.
    """
    amount = _checked_request(amount, reference)
    with transaction.atomic():
        payment = Payment.objects.select_for_update().filter(out_trade_no=out_trade_no).first()
        if payment is None:
            raise NotFound(
                PaymentErrorCode.PAYMENT_NOT_FOUND,
                _("No payment with trade number %(no)s.") % {"no": out_trade_no},
            )
        existing = list(Refund.objects.filter(reference=reference).order_by("pk"))
        if existing:
            if len(existing) != 1 or existing[0].payment_id != payment.pk or existing[0].amount != amount:
                raise _reference_reused(reference, existing)
            return existing[0]
        held = _held([payment])[payment.pk]
        if amount > held:
            # A payment that has not succeeded holds nothing the order could give back.
            paid = payment.amount if payment.status == PaymentStatus.SUCCEEDED else ZERO
            raise Conflict(
                PaymentErrorCode.REFUND_EXCEEDS_PAID,
                _("Refunding %(amount)s would exceed what payment %(no)s holds for order %(order_no)s.")
                % {"amount": amount, "no": payment.out_trade_no, "order_no": payment.order_no},
                {"paid": str(paid), "refunded": str(to_money(paid - held)), "requested": str(amount)},
            )
        return _create_refund(payment=payment, amount=amount, reason=reason, reference=reference, actor=actor)


def refund_request_for_order(
    *, order_no: str, amount: Decimal, reason: str, reference: str, actor: str
) -> list[Refund]:
    """Give ``amount`` of an order's money back, through the payments that hold it.

    The amount is split over the order's succeeded payments, oldest first (the one that paid
    the order before any duplicate), each refund row naming its payment and never taking more
    than that payment still holds; all rows share ``reference``. Idempotent by ``reference``
    (the same order and total return the existing rows). Raises
    ``Conflict(refund_exceeds_paid)`` when the payments together hold less than ``amount``,
    checked with every succeeded payment of the order locked. No network I/O.
    """
    amount = _checked_request(amount, reference)
    with transaction.atomic():
        payments = list(
            Payment.objects.select_for_update().filter(order_no=order_no, status=PaymentStatus.SUCCEEDED).order_by("pk")
        )
        existing = list(Refund.objects.filter(reference=reference).order_by("pk"))
        if existing:
            if any(r.order_no != order_no for r in existing) or sum((r.amount for r in existing), ZERO) != amount:
                raise _reference_reused(reference, existing)
            return existing
        held = _held(payments)
        paid = sum((p.amount for p in payments), ZERO)
        if amount > sum(held.values(), ZERO):
            raise Conflict(
                PaymentErrorCode.REFUND_EXCEEDS_PAID,
                _("Refunding %(amount)s would exceed what was paid for order %(order_no)s.")
                % {"amount": amount, "order_no": order_no},
                {
                    "paid": str(paid),
                    "refunded": str(to_money(paid - sum(held.values(), ZERO))),
                    "requested": str(amount),
                },
            )
        refunds = []
        rest = amount
        for payment in payments:
            part = min(rest, held[payment.pk])
            if part > 0:
                refunds.append(
                    _create_refund(payment=payment, amount=part, reason=reason, reference=reference, actor=actor)
                )
                rest -= part
        return refunds


def payment_refund_received(*, payment_id: int, reason: str, actor: str) -> Refund:
    """Give back what a payment flagged for finance received (finance's admin action).

    A provider that collected another amount than the payable leaves the payment flagged and
    not paid: that money belongs to no order, so it can only go back. The payment is closed
    (it will never pay the order) and a refund of what it received, less refunds already
    counting against it, is requested. Safe to repeat: while a refund is under way (or done)
    it is returned; after a failed one, the rest is asked for again under a new reference.
    """
    with transaction.atomic():
        payment = Payment.objects.select_for_update().filter(pk=payment_id).first()
        if payment is None:
            raise NotFound(PaymentErrorCode.PAYMENT_NOT_FOUND, _("No such payment."))
        return refund_received_locked(payment=payment, reason=reason, actor=actor)


def refund_received_locked(*, payment: Payment, reason: str, actor: str) -> Refund:
    """``payment_refund_received`` for a payment the caller already locked (no network I/O)."""
    if payment.status == PaymentStatus.SUCCEEDED or not payment.flagged_for_finance or not payment.paid_amount:
        raise Conflict(
            PaymentErrorCode.PAYMENT_NOT_REFUNDABLE,
            _("Payment %(no)s did not receive money outside an order; refund the order instead.")
            % {"no": payment.out_trade_no},
            {"status": payment.status, "flagged_for_finance": payment.flagged_for_finance},
        )
    if payment.status == PaymentStatus.CREATED:
        payment.close()
        payment.closed_at = timezone.now()
        payment.save(update_fields=["status", "closed_at", "updated_at"])
    refunds = list(payment.refunds.order_by("pk"))
    counted = [r for r in refunds if r.status in REFUND_COUNTING_STATUSES]
    remaining = payment.paid_amount - sum((r.amount for r in counted), ZERO)
    if remaining <= 0:
        return counted[-1]
    refund = _create_refund(
        payment=payment,
        amount=remaining,
        reason=reason,
        reference=f"received:{payment.out_trade_no}:{len(refunds) + 1}",
        actor=actor,
    )
    logger.info("payment %s: refund of the %s received requested (%s)", payment.out_trade_no, remaining, actor)
    return refund


def refund_apply_result(*, result: RefundResult, actor: str) -> tuple[Refund, str]:
    """Apply the provider's answer about a refund (reply, callback or query) under a row lock."""
    with transaction.atomic():
        refund = (
            Refund.objects.select_for_update().select_related("payment").filter(out_refund_no=result.reference).first()
        )
        if refund is None:
            raise NotFound(
                PaymentErrorCode.REFUND_NOT_FOUND,
                _("No refund with number %(number)s.") % {"number": result.reference},
            )
        late = refund.status == RefundStatus.FAILED and result.state == RefundState.SUCCEEDED
        if refund.status in (RefundStatus.SUCCEEDED, RefundStatus.FAILED) and not late:
            return refund, "duplicate"
        refund.provider_refund_id = result.refund_id or refund.provider_refund_id
        if result.state == RefundState.SUCCEEDED:
            if late:
                # Lock the payments refund_request locks before deciding: a retry accepted
                # while this refund counted as failed is seen, and a new one waits for this.
                locked = Payment.objects.select_for_update().filter(
                    Q(order_no=refund.order_no, status=PaymentStatus.SUCCEEDED) | Q(pk=refund.payment_id)
                )
                refund.payment = {p.pk: p for p in locked.order_by("pk")}[refund.payment_id]
            refund.succeed()
            refund.succeeded_at = timezone.now()
            refund.next_attempt_at = None
            refund.save(update_fields=["status", "provider_refund_id", "succeeded_at", "next_attempt_at", "updated_at"])
            # Money a flagged payment received was never the order's: the orders app must not
            # book its return as a refund of the order.
            order_money = refund.payment.status == PaymentStatus.SUCCEEDED
            outbox_publish(
                topic="refund.succeeded" if order_money else "payment.received_refunded",
                aggregate_type="refund",
                aggregate_id=refund.pk,
                payload=_refund_event(refund),
            )
            logger.info("refund %s succeeded (%s)", refund.reference, actor)
            if late:
                _succeeded_after_failing(refund)
            return refund, "succeeded"
        if result.state == RefundState.FAILED:
            _fail(refund, error=str(result.raw.get("error", "")) or _("refused by the provider"))
            return refund, "failed"
        if refund.status == RefundStatus.REQUESTED:
            refund.start_processing()
        refund.next_attempt_at = timezone.now() + PROCESSING_QUERY_DELAY
        refund.save(update_fields=["status", "provider_refund_id", "next_attempt_at", "updated_at"])
        return refund, "processing"


def _succeeded_after_failing(refund: Refund) -> None:
    """A refund we marked failed that the provider carried out: it counts again.

    Its failure alert no longer holds. If a retry was accepted while it counted as failed,
    the refunds may now pass what was paid: money went out twice, which finance must recover.
    """
    logger.warning("refund %s succeeded at the provider after it was marked failed", refund.reference)
    alert_resolve(dedup_key=f"refund-failed:{refund.reference}")
    payment = refund.payment
    scope = Refund.objects.filter(status__in=REFUND_COUNTING_STATUSES)
    excess = scope.filter(payment=payment).aggregate(s=Sum("amount"))["s"] - (payment.paid_amount or payment.amount)
    others = scope.filter(payment=payment)
    if payment.status == PaymentStatus.SUCCEEDED:
        order_scope = scope.filter(order_no=refund.order_no, payment__status=PaymentStatus.SUCCEEDED)
        refunded = order_scope.aggregate(s=Sum("amount"))["s"]
        excess = max(excess, refunded - selectors.payments_paid_total(refund.order_no))
        others = order_scope
    if excess <= 0:
        return
    references = sorted(others.exclude(pk=refund.pk).values_list("reference", flat=True))
    alert_raise(
        kind="refund_over_paid",
        dedup_key=f"refund-over-paid:{refund.reference}",
        severity=Alert.Severity.ERROR,
        message=_(
            "Refund %(reference)s of %(amount)s for order %(order_no)s succeeded at the provider after it was "
            "marked failed; with refunds %(others)s the buyer gets %(excess)s more than was paid. Recover it."
        )
        % {
            "reference": refund.reference,
            "amount": refund.amount,
            "order_no": refund.order_no,
            "others": ", ".join(references),
            "excess": to_money(excess),
        },
        details={**_refund_event(refund), "other_references": references, "excess": str(to_money(excess))},
    )


def _fail(refund: Refund, *, error: str) -> None:
    refund.fail()
    refund.last_error = error[:500]
    refund.next_attempt_at = None
    # attempts too: the last transient failure counted one before failing the refund.
    refund.save(
        update_fields=["status", "provider_refund_id", "attempts", "last_error", "next_attempt_at", "updated_at"]
    )
    outbox_publish(
        topic="refund.failed", aggregate_type="refund", aggregate_id=refund.pk, payload=_refund_event(refund)
    )
    alert_raise(
        kind="refund_failed",
        dedup_key=f"refund-failed:{refund.reference}",
        message=_("Refund %(reference)s of %(amount)s for order %(order_no)s failed: %(error)s")
        % {"reference": refund.reference, "amount": refund.amount, "order_no": refund.order_no, "error": error},
        details=_refund_event(refund),
    )


def _record_transient_failure(*, refund_id: int, error: str) -> Refund:
    """Count a failed attempt; past ``REFUND_MAX_ATTEMPTS`` the refund fails for finance to see."""
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status not in (RefundStatus.REQUESTED, RefundStatus.PROCESSING):
            return refund
        refund.attempts += 1
        refund.last_error = error[:500]
        if refund.attempts >= settings.REFUND_MAX_ATTEMPTS:
            _fail(refund, error=error)
        else:
            refund.next_attempt_at = timezone.now() + _backoff(refund.attempts)
            refund.save(update_fields=["attempts", "last_error", "next_attempt_at", "updated_at"])
        return refund


def _retry_later(strategy, refund: Refund, *, error: str, actor: str) -> Refund:
    """Count a transient failure; before the last allowed one fails the refund, ask the provider.

    We could not reach the provider (or it asked us to come back), which is not the provider
    saying the refund failed: an earlier attempt may have reached it and only the answer was
    lost. Its refund query decides when it answers; only a refund it does not know (or that
    we cannot ask about either) fails.
    """
    if refund.attempts + 1 >= settings.REFUND_MAX_ATTEMPTS:
        try:
            result = strategy.query_refund(out_trade_no=refund.payment.out_trade_no, reference=refund.out_refund_no)
        except (ProviderUnavailable, ProviderRefused) as exc:
            logger.warning("refund %s: query before failing it did not answer: %s", refund.reference, exc)
        else:
            if result.state != RefundState.NOT_FOUND:
                refund, _outcome = refund_apply_result(result=result, actor=actor)
                return refund
    return _record_transient_failure(refund_id=refund.pk, error=error)


def _send(strategy, refund: Refund) -> RefundResult:
    payment = refund.payment
    return strategy.refund(
        out_trade_no=payment.out_trade_no,
        reference=refund.out_refund_no,
        amount=refund.amount,
        total=payment.paid_amount or payment.amount,
        reason=refund.reason,
        notify_url=notify_url(payment.provider),
    )


def refund_submit(*, refund_id: int, actor: str) -> Refund:
    """Send a requested refund to the provider (or ask about a processing one) and apply the answer.

    Safe to repeat: the provider deduplicates by our reference (out_refund_no/out_request_no).
    Before an unreachable provider (or a temporary refusal) fails the refund for good, the
    provider's refund query is asked whether it carried the refund out after all.
    A refund the provider has no record of (lost on the way) is sent again under the same
    number; each loss counts an attempt toward ``REFUND_MAX_ATTEMPTS``, so a refund the
    provider never gets ends ``failed`` with an alert instead of ``processing`` forever. A
    temporary refusal (``RETRYABLE_REFUSALS``) is retried the same way; any other refusal
    fails the refund at once.
    """
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status not in (RefundStatus.REQUESTED, RefundStatus.PROCESSING):
        return refund
    payment = refund.payment
    strategy = get_provider(payment.provider)
    lost = _("the provider has no record of the refund request")
    try:
        if refund.status == RefundStatus.PROCESSING:
            result = strategy.query_refund(out_trade_no=payment.out_trade_no, reference=refund.out_refund_no)
            if result.state == RefundState.NOT_FOUND:
                logger.warning("refund %s: unknown to the provider; sending it again", refund.reference)
                counted = _record_transient_failure(refund_id=refund.pk, error=lost)
                if counted.status != RefundStatus.PROCESSING:
                    return counted
                result = _send(strategy, refund)
                if result.state == RefundState.NOT_FOUND:
                    return counted  # lost again: asked about after the backoff, and counted then
        else:
            result = _send(strategy, refund)
    except ProviderUnavailable as exc:
        logger.warning("refund %s: provider unavailable: %s", refund.reference, exc)
        return _retry_later(strategy, refund, error=str(exc), actor=actor)
    except ProviderRefused as exc:
        if exc.code in RETRYABLE_REFUSALS:
            logger.warning("refund %s: temporary refusal, sent again later: %s", refund.reference, exc)
            return _retry_later(strategy, refund, error=str(exc), actor=actor)
        result = RefundResult(reference=refund.out_refund_no, state=RefundState.FAILED, raw={"error": str(exc)})
    if result.state == RefundState.NOT_FOUND:
        logger.warning("refund %s: the provider did not keep the request; sent again later", refund.reference)
        return _record_transient_failure(refund_id=refund.pk, error=lost)
    refund, _outcome = refund_apply_result(result=result, actor=actor)
    return refund


def refunds_process_due(*, actor: str) -> int:
    """Beat job: resend refunds whose retry time came, and ask about processing ones.

    Refunds of a misconfigured provider wait, untouched, until it is fixed."""
    from apps.payments.services.payments import usable_providers

    usable = usable_providers(job="payments.refunds_process")
    ids = list(selectors.refunds_due().filter(payment__provider__in=usable).values_list("pk", flat=True)[:200])
    for refund_id in ids:
        refund_submit(refund_id=refund_id, actor=actor)
    return len(ids)
