"""Beat jobs of the payments app: thin wrappers around services, safe to run twice."""

import logging
from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

from apps.payments import services
from apps.payments.providers.base import ProviderUnavailable
from apps.payments.providers.config import ProviderMisconfigured

logger = logging.getLogger(__name__)


@shared_task(name="payments.query_open", acks_late=True, ignore_result=True)
def payments_query_open_task() -> dict:
    return services.payments_query_open(actor="system:beat")


@shared_task(name="payments.close_expired", acks_late=True, ignore_result=True)
def payments_close_expired_task() -> int:
    return services.payments_close_expired(actor="system:beat")


@shared_task(name="payments.refunds_process", acks_late=True, ignore_result=True)
def refunds_process_due_task() -> int:
    return services.refunds_process_due(actor="system:beat")


@shared_task(
    name="payments.reconcile",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(ProviderUnavailable,),
    retry_backoff=300,
    retry_backoff_max=3600,
    max_retries=6,
)
def reconciliation_run_task(provider: str, bill_date: str) -> int | None:
    try:
        statement = services.reconciliation_run(
            provider=provider, bill_date=date.fromisoformat(bill_date), actor="system:beat"
        )
    except ProviderMisconfigured as exc:
        logger.error("payments.reconcile: %s %s not reconciled: %s", provider, bill_date, exc)
        return None
    return statement.mismatch_count


@shared_task(name="payments.reconcile_yesterday", acks_late=True, ignore_result=True)
def reconciliation_daily_task() -> None:
    """Queue yesterday's reconciliation for each usable provider (statements are ready after 10:00)."""
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    for provider in sorted(services.usable_providers(job="payments.reconcile_yesterday")):
        reconciliation_run_task.delay(provider, yesterday)


@shared_task(name="payments.notifications_purge", queue="default", acks_late=True, ignore_result=True)
def payment_notifications_purge_task() -> int:
    """Daily: raw payment callbacks past PAYMENT_NOTIFICATION_RETENTION_DAYS."""
    return services.payment_notifications_purge()
