from datetime import timedelta

import pytest
from django.utils import timezone

from apps.aftersales.models import WorkOrder, WorkOrderStatus
from apps.aftersales.services.workorders import (
    workorder_assign,
    workorder_close,
    workorder_comment_add,
    workorder_create,
    workorder_resolve,
    workorder_start,
    workorders_escalate_overdue,
)
from apps.core.exceptions import ApplicationError
from apps.core.models import Alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def sla(settings):
    settings.WORKORDER_SLA_HOURS = {"urgent": 2, "high": 8, "normal": 24, "low": 72}
    return settings.WORKORDER_SLA_HOURS


def test_due_time_follows_the_sla_of_the_priority(sla):
    before = timezone.now()
    urgent = workorder_create(title="Parcel lost", category="logistics", priority="urgent", actor="admin:alice")
    low = workorder_create(title="Invoice copy", category="other", priority="low", actor="admin:alice")
    after = timezone.now()

    assert before + timedelta(hours=2) <= urgent.due_at <= after + timedelta(hours=2)
    assert before + timedelta(hours=72) <= low.due_at <= after + timedelta(hours=72)
    assert urgent.number.startswith("WO")


def test_unknown_priority_is_refused(sla):
    with pytest.raises(ApplicationError) as exc:
        workorder_create(title="x", category="other", priority="whenever", actor="admin:alice")
    assert exc.value.code == "invalid_priority"
    assert not WorkOrder.objects.exists()


def test_lifecycle_assign_start_resolve_close_with_comments(sla, admin_user):
    ticket = workorder_create(title="Wrong colour", category="quality", actor="admin:alice")
    workorder_assign(number=ticket.number, assignee_id=admin_user.pk, actor="admin:alice")
    workorder_start(number=ticket.number, actor="admin:bob")
    workorder_comment_add(number=ticket.number, author="admin:bob", body="Called the buyer.")
    workorder_resolve(number=ticket.number, actor="admin:bob", remark="Exchange agreed.")
    workorder_close(number=ticket.number, actor="admin:alice")

    ticket.refresh_from_db()
    assert ticket.status == WorkOrderStatus.CLOSED
    assert ticket.assignee == admin_user
    assert ticket.resolved_at is not None and ticket.closed_at is not None
    bodies = list(ticket.comments.values_list("body", flat=True))
    assert "Called the buyer." in bodies
    assert any("Exchange agreed." in body for body in bodies)


def test_closed_ticket_cannot_be_started(sla):
    ticket = workorder_create(title="Dup", category="other", actor="admin:alice")
    workorder_close(number=ticket.number, actor="admin:alice")
    with pytest.raises(ApplicationError) as exc:
        workorder_start(number=ticket.number, actor="admin:alice")
    assert exc.value.code == "invalid_status"


def test_overdue_ticket_escalates_once_per_run_and_raises_an_alert(sla):
    ticket = workorder_create(title="Late parcel", category="logistics", priority="normal", actor="admin:alice")
    not_due = workorder_create(title="Not due", category="other", priority="low", actor="admin:alice")
    now = ticket.due_at + timedelta(minutes=1)

    first = workorders_escalate_overdue(now=now)
    again = workorders_escalate_overdue(now=now + timedelta(minutes=5))

    assert [w.number for w in first] == [ticket.number]
    assert again == []
    ticket.refresh_from_db()
    assert ticket.priority == "high"
    assert ticket.escalation_level == 1
    assert ticket.comments.filter(author="system:beat", body__contains="escalated").count() == 1
    alert = Alert.objects.get(open_key=f"workorder-overdue:{ticket.number}")
    assert alert.occurrences == 1
    not_due.refresh_from_db()
    assert (not_due.priority, not_due.escalation_level) == ("low", 0)


def test_still_ignored_after_the_new_sla_escalates_again_up_to_urgent(sla):
    ticket = workorder_create(title="Complaint", category="complaint", priority="high", actor="admin:alice")
    now = ticket.due_at + timedelta(minutes=1)
    workorders_escalate_overdue(now=now)
    workorders_escalate_overdue(now=now + timedelta(hours=2, minutes=1))
    workorders_escalate_overdue(now=now + timedelta(hours=4, minutes=2))

    ticket.refresh_from_db()
    assert ticket.priority == "urgent"
    assert ticket.escalation_level == 3


def test_resolved_ticket_is_not_escalated_and_its_alert_closes(sla):
    ticket = workorder_create(title="Refund late", category="refund", priority="urgent", actor="admin:alice")
    workorders_escalate_overdue(now=ticket.due_at + timedelta(minutes=1))
    workorder_resolve(number=ticket.number, actor="admin:bob")

    assert workorders_escalate_overdue(now=ticket.due_at + timedelta(days=3)) == []
    assert not Alert.objects.filter(open_key=f"workorder-overdue:{ticket.number}").exists()
