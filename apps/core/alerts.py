"""Alerts for staff, with an optional webhook (``ALERT_WEBHOOK_URL``)."""

import logging

import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.core.models import Alert

logger = logging.getLogger(__name__)


def alert_raise(
    *, kind: str, dedup_key: str, message: str, details: dict | None = None, severity: str = Alert.Severity.WARNING
) -> tuple[Alert, bool]:
    """Open an alert, or count one more occurrence of the open alert with this key.

    Returns ``(alert, created)``; the webhook is called only when an alert is opened.
    """
    with transaction.atomic():
        existing = Alert.objects.select_for_update().filter(open_key=dedup_key).first()
        if existing is not None:
            Alert.objects.filter(pk=existing.pk).update(occurrences=F("occurrences") + 1, updated_at=timezone.now())
            existing.refresh_from_db()
            return existing, False
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    kind=kind,
                    severity=severity,
                    dedup_key=dedup_key,
                    open_key=dedup_key,
                    message=message[:500],
                    details=details or {},
                )
        except IntegrityError:
            return Alert.objects.get(open_key=dedup_key), False
        transaction.on_commit(lambda: _notify(alert))
        return alert, True


def alert_resolve(*, dedup_key: str) -> int:
    """Close the open alert with this key, so the next occurrence opens a new one."""
    return Alert.objects.filter(open_key=dedup_key).update(open_key=None, resolved_at=timezone.now())


def _notify(alert: Alert) -> None:
    url = settings.ALERT_WEBHOOK_URL
    if not url:
        return
    body = {"kind": alert.kind, "severity": alert.severity, "message": alert.message, "details": alert.details}
    try:
        requests.post(url, json=body, timeout=5).raise_for_status()
    except requests.RequestException:
        logger.warning("alert webhook failed for alert %s", alert.pk, exc_info=True)
