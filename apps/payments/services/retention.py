"""Retention of raw payment callbacks (batched deletes, ``apps.core.retention``)."""

from datetime import datetime

from django.conf import settings

from apps.core.retention import cutoff, delete_in_batches
from apps.payments.models import PaymentNotification


def payment_notifications_purge(*, now: datetime | None = None) -> int:
    """Callbacks received more than ``PAYMENT_NOTIFICATION_RETENTION_DAYS`` ago (0: kept for
    ever). The payments and refunds they changed stay: only the raw evidence goes."""
    before = cutoff(settings.PAYMENT_NOTIFICATION_RETENTION_DAYS, now=now)
    if before is None:
        return 0
    return delete_in_batches(PaymentNotification.objects.filter(received_at__lt=before))
