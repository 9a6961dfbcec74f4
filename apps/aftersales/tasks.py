from celery import shared_task

from apps.aftersales.services.workorders import workorders_escalate_overdue


@shared_task(name="aftersales.workorders_escalate_overdue", acks_late=True, ignore_result=True)
def workorders_escalate_overdue_task() -> int:
    """Beat job: escalate overdue work orders; a second run in the same SLA period is a no-op."""
    return len(workorders_escalate_overdue(actor="system:beat"))
