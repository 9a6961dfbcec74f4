from django.db import models
from django.utils.translation import gettext_lazy as _


class OutboxEvent(models.Model):
    """An event written in the same transaction as the business change it describes.

    The id orders events; consumers that must not let an older event overwrite a newer
    state (the search indexer) compare the ``version`` the publisher puts in the payload.
    """

    topic = models.CharField(_("topic"), max_length=64, db_index=True)
    aggregate_type = models.CharField(_("aggregate type"), max_length=32)
    aggregate_id = models.CharField(_("aggregate id"), max_length=64)
    payload = models.JSONField(_("payload"), default=dict)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # Set by the relay once it has written the event's deliveries (one per subscribed consumer).
    # The database default lets a writer of raw SQL leave the column out.
    fanned_out = models.BooleanField(_("fanned out"), default=False, db_default=False)

    class Meta:
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        indexes = [
            models.Index(fields=["aggregate_type", "aggregate_id"]),
            models.Index(fields=["fanned_out", "id"], name="outbox_event_fan_out"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.aggregate_type}:{self.aggregate_id}"


class OutboxDelivery(models.Model):
    """One consumer's delivery of one event: delivered at least once, retried with backoff."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("event"))
    consumer = models.CharField(_("consumer"), max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    last_error = models.TextField(_("last error"), blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("outbox delivery")
        verbose_name_plural = _("outbox deliveries")
        constraints = [models.UniqueConstraint(fields=["event", "consumer"], name="outbox_delivery_unique")]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.consumer} <- {self.event_id}"


class IdempotencyKey(models.Model):
    """The first successful response to a POST carrying an ``Idempotency-Key`` header."""

    scope = models.CharField(_("scope"), max_length=64)
    key = models.CharField(_("key"), max_length=255)
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True)
    response_body = models.JSONField(_("response body"), null=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_unique")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class Alert(models.Model):
    """Something staff must look at (low stock, a failing platform pull, a stuck write-back).

    ``dedup_key`` keeps one open alert per condition: raising it again while open only
    bumps ``occurrences``; once resolved, the next crossing opens a new one.
    """

    class Severity(models.TextChoices):
        INFO = "info", _("Info")
        WARNING = "warning", _("Warning")
        ERROR = "error", _("Error")

    kind = models.CharField(_("kind"), max_length=32, db_index=True)
    severity = models.CharField(_("severity"), max_length=16, choices=Severity.choices, default=Severity.WARNING)
    dedup_key = models.CharField(_("deduplication key"), max_length=128, db_index=True)
    # Equals dedup_key while the alert is open and NULL once resolved: a unique column that
    # MySQL can enforce (it has no partial unique indexes) keeping one open alert per key.
    open_key = models.CharField(max_length=128, null=True, blank=True, unique=True, editable=False)
    message = models.CharField(_("message"), max_length=500)
    details = models.JSONField(_("details"), default=dict, blank=True)
    occurrences = models.PositiveIntegerField(_("occurrences"), default=1)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.message

    @property
    def is_open(self) -> bool:
        return self.open_key is not None
