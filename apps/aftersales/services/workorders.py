"""Work orders (工单): open, assign, work, resolve, close, comment, and escalate when overdue."""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import can_proceed

from apps.aftersales.error_codes import AfterSaleErrorCode
from apps.aftersales.models import (
    ACTIVE_WORKORDER_STATUSES,
    PRIORITY_ORDER,
    AfterSale,
    Priority,
    WorkOrder,
    WorkOrderComment,
)
from apps.core.alerts import alert_raise, alert_resolve
from apps.core.db import skip_locked
from apps.core.exceptions import Conflict, NotFound, Unprocessable
from apps.core.numbers import next_number
from apps.orders.models import Order


def sla_hours(priority: str) -> int:
    return int(settings.WORKORDER_SLA_HOURS[priority])


def _lock(number: str) -> WorkOrder:
    work_order = WorkOrder.objects.select_for_update().filter(number=number).first()
    if work_order is None:
        raise NotFound(
            AfterSaleErrorCode.WORKORDER_NOT_FOUND,
            _("Work order %(number)s does not exist.") % {"number": number},
        )
    return work_order


def _comment(work_order: WorkOrder, *, author: str, body: str) -> WorkOrderComment:
    return WorkOrderComment.objects.create(work_order=work_order, author=author[:64], body=body)


def workorder_create(
    *,
    title: str,
    category: str,
    actor: str,
    priority: str = Priority.NORMAL,
    description: str = "",
    order_no: str | None = None,
    aftersale_no: str | None = None,
    assignee_id: int | None = None,
    opened_at: datetime | None = None,
) -> WorkOrder:
    """Open a ticket due within the SLA of its priority; linked to an order and/or an after-sale.

    ``opened_at`` backdates the SLA clock for a ticket taken over from a phone call or another
    system (defaults to now).
    """
    if priority not in Priority.values:
        raise Unprocessable(AfterSaleErrorCode.INVALID_PRIORITY, _("Unknown priority %(p)s.") % {"p": priority})
    order = None
    aftersale = None
    if aftersale_no:
        aftersale = AfterSale.objects.select_related("order").filter(aftersale_no=aftersale_no).first()
        if aftersale is None:
            raise NotFound(
                AfterSaleErrorCode.AFTERSALE_NOT_FOUND,
                _("After-sale %(no)s does not exist.") % {"no": aftersale_no},
            )
        order = aftersale.order
    if order_no:
        order = Order.objects.filter(order_no=order_no).first()
        if order is None:
            raise NotFound(AfterSaleErrorCode.ORDER_NOT_FOUND, _("Order %(no)s does not exist.") % {"no": order_no})
    with transaction.atomic():
        work_order = WorkOrder.objects.create(
            number=f"WO{next_number()}",
            title=title[:200],
            description=description,
            category=category,
            priority=priority,
            order=order,
            aftersale=aftersale,
            assignee_id=assignee_id,
            due_at=(opened_at or timezone.now()) + timedelta(hours=sla_hours(priority)),
            created_by=actor[:64],
        )
        _comment(
            work_order, author=actor, body=_("Opened with priority %(p)s.") % {"p": work_order.get_priority_display()}
        )
    return work_order


def workorder_assign(*, number: str, assignee_id: int, actor: str) -> WorkOrder:
    assignee = get_user_model().objects.filter(pk=assignee_id, is_staff=True, is_active=True).first()
    if assignee is None:
        raise Unprocessable(AfterSaleErrorCode.INVALID_ASSIGNEE, _("The assignee must be an active staff user."))
    with transaction.atomic():
        work_order = _lock(number)
        if work_order.status not in ACTIVE_WORKORDER_STATUSES:
            raise Conflict(
                AfterSaleErrorCode.INVALID_STATUS,
                _("Work order %(number)s is %(status)s and cannot be reassigned.")
                % {"number": number, "status": work_order.get_status_display()},
            )
        work_order.assignee = assignee
        work_order.save(update_fields=["assignee", "updated_at"])
        _comment(work_order, author=actor, body=_("Assigned to %(user)s.") % {"user": assignee.get_username()})
    return work_order


def _transition(*, number: str, transition: str, actor: str, remark: str) -> WorkOrder:
    with transaction.atomic():
        work_order = _lock(number)
        method = getattr(work_order, transition)
        if not can_proceed(method):
            raise Conflict(
                AfterSaleErrorCode.INVALID_STATUS,
                _("Work order %(number)s cannot be changed this way while %(status)s.")
                % {"number": number, "status": work_order.get_status_display()},
                {"status": work_order.status},
            )
        method()
        work_order.save(update_fields=["status", "resolved_at", "closed_at", "updated_at"])
        body = _("Status changed to %(status)s.") % {"status": work_order.get_status_display()}
        _comment(work_order, author=actor, body=f"{body} {remark}".strip())
        if work_order.status not in ACTIVE_WORKORDER_STATUSES:
            alert_resolve(dedup_key=_overdue_key(work_order))
    return work_order


def _overdue_key(work_order: WorkOrder) -> str:
    return f"workorder-overdue:{work_order.number}"


def workorder_start(*, number: str, actor: str) -> WorkOrder:
    return _transition(number=number, transition="start", actor=actor, remark="")


def workorder_resolve(*, number: str, actor: str, remark: str = "") -> WorkOrder:
    return _transition(number=number, transition="resolve", actor=actor, remark=remark)


def workorder_reopen(*, number: str, actor: str, remark: str = "") -> WorkOrder:
    return _transition(number=number, transition="reopen", actor=actor, remark=remark)


def workorder_close(*, number: str, actor: str, remark: str = "") -> WorkOrder:
    return _transition(number=number, transition="close", actor=actor, remark=remark)


def workorder_comment_add(*, number: str, author: str, body: str) -> WorkOrderComment:
    with transaction.atomic():
        work_order = _lock(number)
        return _comment(work_order, author=author, body=body)


def workorders_escalate_overdue(*, actor: str = "system:beat", now: datetime | None = None) -> list[WorkOrder]:
    """Escalate active tickets past their due time (beat job).

    A ticket escalates once per SLA period of its (new) priority: a run repeated before that
    changes nothing. Rows are taken with SKIP LOCKED, so two overlapping runs split the work
    instead of escalating the same ticket twice.
    """
    now = now or timezone.now()
    escalated = []
    with transaction.atomic():
        candidates = (
            WorkOrder.objects.select_for_update(skip_locked=skip_locked())
            .filter(status__in=ACTIVE_WORKORDER_STATUSES, due_at__lte=now)
            .order_by("pk")
        )
        for work_order in candidates:
            last = work_order.last_escalated_at
            if last is not None and last + timedelta(hours=sla_hours(work_order.priority)) > now:
                continue
            rank = PRIORITY_ORDER.index(Priority(work_order.priority))
            work_order.priority = PRIORITY_ORDER[min(rank + 1, len(PRIORITY_ORDER) - 1)]
            work_order.escalation_level += 1
            work_order.last_escalated_at = now
            work_order.save(update_fields=["priority", "escalation_level", "last_escalated_at", "updated_at"])
            _comment(
                work_order,
                author=actor,
                body=_("Overdue since %(due)s: escalated to level %(level)d, priority %(priority)s.")
                % {
                    "due": timezone.localtime(work_order.due_at).strftime("%Y-%m-%d %H:%M"),
                    "level": work_order.escalation_level,
                    "priority": work_order.get_priority_display(),
                },
            )
            alert_raise(
                kind="workorder_overdue",
                dedup_key=_overdue_key(work_order),
                message=_("Work order %(number)s is overdue (escalation level %(level)d).")
                % {"number": work_order.number, "level": work_order.escalation_level},
                details={"number": work_order.number, "escalation_level": work_order.escalation_level},
            )
            escalated.append(work_order)
    return escalated
