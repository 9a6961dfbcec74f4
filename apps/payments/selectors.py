"""Reads other apps rely on: what an order has paid and what has been (or is being) refunded."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from apps.core.money import ZERO, to_money
from apps.payments.models import REFUND_COUNTING_STATUSES, Payment, PaymentStatus, Refund, RefundStatus


def payments_paid_total(order_no: str) -> Decimal:
    """The sum of the order's succeeded payments."""
    total = Payment.objects.filter(order_no=order_no, status=PaymentStatus.SUCCEEDED).aggregate(s=Sum("amount"))["s"]
    return to_money(total or ZERO)


def _order_refunds(order_no: str) -> QuerySet[Refund]:
    """Refunds of what the order was paid: not the return of money a flagged payment
    received (another amount than the payable), which never counted as paid."""
    return Refund.objects.filter(order_no=order_no, payment__status=PaymentStatus.SUCCEEDED)


def refunds_total(order_no: str) -> Decimal:
    """Refunds that count against what was paid: requested, processing and succeeded."""
    total = _order_refunds(order_no).filter(status__in=REFUND_COUNTING_STATUSES).aggregate(s=Sum("amount"))["s"]
    return to_money(total or ZERO)


def refunds_succeeded_total(order_no: str) -> Decimal:
    """Money actually returned to the buyer for the order."""
    total = _order_refunds(order_no).filter(status=RefundStatus.SUCCEEDED).aggregate(s=Sum("amount"))["s"]
    return to_money(total or ZERO)


@dataclass(frozen=True)
class RefundRequestState:
    """Where the rows of one refund request (one reference, one row per payment) stand."""

    succeeded: Decimal
    failed: Decimal
    open: Decimal


def refund_request_state(reference: str) -> RefundRequestState:
    totals = dict(Refund.objects.filter(reference=reference).values_list("status").annotate(total=Sum("amount")))
    return RefundRequestState(
        succeeded=to_money(totals.get(RefundStatus.SUCCEEDED, ZERO)),
        failed=to_money(totals.get(RefundStatus.FAILED, ZERO)),
        open=to_money(totals.get(RefundStatus.REQUESTED, ZERO) + totals.get(RefundStatus.PROCESSING, ZERO)),
    )


def payments_due_for_query() -> QuerySet[Payment]:
    """Open payments old enough that a callback should have arrived (active query)."""
    cutoff = timezone.now() - timedelta(minutes=settings.PAYMENT_QUERY_AFTER_MINUTES)
    return Payment.objects.filter(
        status=PaymentStatus.CREATED, flagged_for_finance=False, created_at__lte=cutoff
    ).order_by("id")


def payments_past_deadline() -> QuerySet[Payment]:
    """Open payments older than the payment deadline: their order can no longer be paid."""
    cutoff = timezone.now() - timedelta(minutes=settings.PAYMENT_DEADLINE_MINUTES)
    return Payment.objects.filter(status=PaymentStatus.CREATED, flagged_for_finance=False, created_at__lte=cutoff)


def refunds_due() -> QuerySet[Refund]:
    """Refunds to send again (requested, retry time reached) or to ask about (processing)."""
    now = timezone.now()
    return (
        Refund.objects.filter(
            Q(status=RefundStatus.REQUESTED, next_attempt_at__lte=now)
            | Q(status=RefundStatus.PROCESSING, next_attempt_at__lte=now)
        )
        .select_related("payment")
        .order_by("id")
    )
