"""Payments, refunds, raw provider notifications and reconciliation (对账).

Payments know orders only by ``order_no``. Status changes go through the django-fsm
transitions below, run by ``apps.payments.services`` under a row lock on the payment.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition


class Provider(models.TextChoices):
    WECHAT = "wechat", _("WeChat Pay")
    ALIPAY = "alipay", _("Alipay")


class PaymentStatus(models.TextChoices):
    CREATED = "created", _("Created")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CLOSED = "closed", _("Closed")


PS = PaymentStatus


class Payment(FSMModelMixin, models.Model):
    """One attempt to collect an order's payable amount through one provider.

    ``out_trade_no`` is the merchant trade number the provider knows us by. A success reported
    by the provider always wins, even over ``closed``/``failed``: the money is real, and the
    orders app refunds it when the order can no longer be paid.
    """

    order_no = models.CharField(_("order number"), max_length=32, db_index=True)
    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    out_trade_no = models.CharField(_("merchant trade number"), max_length=32, unique=True)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    description = models.CharField(_("description"), max_length=127, blank=True)
    status = FSMField(_("status"), max_length=16, choices=PaymentStatus.choices, default=PS.CREATED, protected=True)
    transaction_id = models.CharField(_("provider transaction id"), max_length=64, blank=True, db_index=True)
    paid_amount = models.DecimalField(_("paid amount"), max_digits=12, decimal_places=2, null=True, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    client_params = models.JSONField(_("client parameters"), default=dict, blank=True)
    flagged_for_finance = models.BooleanField(_("flagged for finance"), default=False)
    flag_reason = models.CharField(_("flag reason"), max_length=255, blank=True)
    last_queried_at = models.DateTimeField(_("last queried at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    created_by = models.CharField(_("created by"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="payment_status_created")]
        permissions = [("issue_refund", _("Can issue refunds"))]

    def __str__(self) -> str:
        return self.out_trade_no

    @transition(field=status, source=[PS.CREATED, PS.CLOSED, PS.FAILED], target=PS.SUCCEEDED)
    def succeed(self) -> None:
        pass

    @transition(field=status, source=PS.CREATED, target=PS.FAILED)
    def fail(self) -> None:
        pass

    @transition(field=status, source=PS.CREATED, target=PS.CLOSED)
    def close(self) -> None:
        pass


class PaymentNotification(models.Model):
    """Every raw callback exactly as received, verified or not: the evidence finance relies on."""

    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    payment = models.ForeignKey(
        Payment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("payment"),
    )
    out_trade_no = models.CharField(_("merchant trade number"), max_length=64, blank=True, db_index=True)
    event_type = models.CharField(_("event type"), max_length=64, blank=True)
    headers = models.JSONField(_("headers"), default=dict)
    body = models.TextField(_("body"))
    verified = models.BooleanField(_("signature verified"), default=False)
    outcome = models.CharField(_("outcome"), max_length=64, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("payment notification")
        verbose_name_plural = _("payment notifications")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.provider} {self.out_trade_no or '?'} @ {self.received_at:%Y-%m-%d %H:%M:%S}"


class RefundStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    PROCESSING = "processing", _("Processing")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


RS = RefundStatus
# Refunds that count against what was paid: anything not (yet) failed.
REFUND_COUNTING_STATUSES = (RS.REQUESTED, RS.PROCESSING, RS.SUCCEEDED)


class Refund(FSMModelMixin, models.Model):
    """Money going back through one payment's trade. ``reference`` is the caller's idempotency
    key (an after-sale number, ``cancel:<order_no>``...); an order's refund split over several
    payments is one row per payment under the same reference. ``out_refund_no`` is the number the provider
    knows the refund by (WeChat out_refund_no, Alipay out_request_no: digits only, as WeChat
    restricts the characters); it never changes, so re-sending a refund to the provider is safe.
    """

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("payment"))
    order_no = models.CharField(_("order number"), max_length=32, db_index=True)
    # Shared by the rows of one request split over several payments; unique per payment.
    reference = models.CharField(_("reference"), max_length=64)
    out_refund_no = models.CharField(_("merchant refund number"), max_length=32, unique=True)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    status = FSMField(_("status"), max_length=16, choices=RefundStatus.choices, default=RS.REQUESTED, protected=True)
    provider_refund_id = models.CharField(_("provider refund id"), max_length=64, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    requested_by = models.CharField(_("requested by"), max_length=64, blank=True)
    succeeded_at = models.DateTimeField(_("succeeded at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="refund_status_next")]
        constraints = [models.UniqueConstraint(fields=["reference", "payment"], name="refund_reference_payment")]

    def __str__(self) -> str:
        return self.reference

    @transition(field=status, source=RS.REQUESTED, target=RS.PROCESSING)
    def start_processing(self) -> None:
        pass

    # From failed too: the provider's success wins over our giving up (we could not reach it,
    # yet it carried the refund out).
    @transition(field=status, source=[RS.REQUESTED, RS.PROCESSING, RS.FAILED], target=RS.SUCCEEDED)
    def succeed(self) -> None:
        pass

    @transition(field=status, source=[RS.REQUESTED, RS.PROCESSING], target=RS.FAILED)
    def fail(self) -> None:
        pass


class Statement(models.Model):
    """One provider's daily statement (账单) for one date, imported and matched once."""

    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    bill_date = models.DateField(_("bill date"))
    line_count = models.PositiveIntegerField(_("lines"), default=0)
    mismatch_count = models.PositiveIntegerField(_("mismatches"), default=0)
    imported_by = models.CharField(_("imported by"), max_length=64)
    imported_at = models.DateTimeField(_("imported at"), auto_now=True)

    class Meta:
        verbose_name = _("statement")
        verbose_name_plural = _("statements")
        ordering = ["-bill_date", "provider"]
        constraints = [models.UniqueConstraint(fields=["provider", "bill_date"], name="statement_provider_date")]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.bill_date}"


class StatementLine(models.Model):
    class Kind(models.TextChoices):
        PAYMENT = "payment", _("Payment")
        REFUND = "refund", _("Refund")

    statement = models.ForeignKey(
        Statement, on_delete=models.CASCADE, related_name="lines", verbose_name=_("statement")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    out_trade_no = models.CharField(_("merchant trade number"), max_length=64, db_index=True)
    transaction_id = models.CharField(_("provider transaction id"), max_length=64, blank=True)
    refund_reference = models.CharField(_("merchant refund number"), max_length=64, blank=True)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    status = models.CharField(_("provider status"), max_length=32, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"), null=True, blank=True)
    raw = models.JSONField(_("raw row"), default=dict)

    class Meta:
        verbose_name = _("statement line")
        verbose_name_plural = _("statement lines")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.out_trade_no} {self.amount}"


class ReconciliationResult(models.Model):
    """A difference between the provider's statement and our books, for finance to settle."""

    class Kind(models.TextChoices):
        MISSING_LOCAL = "missing_local", _("Missing locally")
        MISSING_REMOTE = "missing_remote", _("Missing at the provider")
        AMOUNT_MISMATCH = "amount_mismatch", _("Amount mismatch")
        STATUS_MISMATCH = "status_mismatch", _("Status mismatch")

    statement = models.ForeignKey(
        Statement, on_delete=models.CASCADE, related_name="results", verbose_name=_("statement")
    )
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices, db_index=True)
    line_kind = models.CharField(_("line kind"), max_length=16, choices=StatementLine.Kind.choices)
    out_trade_no = models.CharField(_("merchant trade number"), max_length=64, db_index=True)
    refund_reference = models.CharField(_("merchant refund number"), max_length=64, blank=True)
    order_no = models.CharField(_("order number"), max_length=32, blank=True)
    local_amount = models.DecimalField(_("our amount"), max_digits=12, decimal_places=2, null=True, blank=True)
    remote_amount = models.DecimalField(_("provider amount"), max_digits=12, decimal_places=2, null=True, blank=True)
    local_status = models.CharField(_("our status"), max_length=16, blank=True)
    remote_status = models.CharField(_("provider status"), max_length=32, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("reconciliation result")
        verbose_name_plural = _("reconciliation results")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.out_trade_no}"
