"""After-sale requests (售后单) and work orders (工单).

Statuses change only through the django-fsm transitions below, run by ``services`` under a
row lock, each with an ``AfterSaleLog`` row and an ``aftersale.<status>`` outbox event.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import FSMField, FSMModelMixin, transition


class AfterSaleType(models.TextChoices):
    REFUND_ONLY = "refund_only", _("Refund only")
    RETURN_REFUND = "return_refund", _("Return and refund")
    EXCHANGE = "exchange", pgettext_lazy("after-sale type", "Exchange")  # not the AMQP exchange
    REISSUE = "reissue", _("Reissue")


class AfterSaleStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    AWAITING_RETURN = "awaiting_return", _("Awaiting return")
    RECEIVED = "received", _("Return received")
    REFUNDING = "refunding", _("Refunding")
    REFUND_FAILED = "refund_failed", _("Refund failed")
    SHIPPING = "shipping", _("Replacement shipping")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class AfterSaleSource(models.TextChoices):
    STAFF = "staff", _("Staff")
    BUYER = "buyer", _("Buyer (API)")
    PLATFORM = "platform", _("Platform")


class Inspection(models.TextChoices):
    SELLABLE = "sellable", _("Sellable")
    DAMAGED = "damaged", _("Damaged")


T = AfterSaleType
A = AfterSaleStatus
RETURN_TYPES = frozenset({T.RETURN_REFUND, T.EXCHANGE})
REFUND_TYPES = frozenset({T.REFUND_ONLY, T.RETURN_REFUND})
SHIPPING_TYPES = frozenset({T.EXCHANGE, T.REISSUE})
CLOSED_STATUSES = frozenset({A.REJECTED, A.CANCELLED, A.COMPLETED})
# Money an after-sale still claims before payments holds a refund row for it.
UNREFUNDED_STATUSES = frozenset({A.REQUESTED, A.APPROVED, A.AWAITING_RETURN, A.RECEIVED, A.REFUND_FAILED})


class AfterSale(FSMModelMixin, models.Model):
    """A buyer's (or a platform's, or staff's) after-sale request on one order.

    Flows: refund_only approved -> refunding -> completed; return_refund approved ->
    awaiting_return -> received -> refunding -> completed; exchange approved ->
    awaiting_return -> received -> shipping -> completed; reissue approved -> shipping ->
    completed. ``requested``/``approved``/``awaiting_return`` may be cancelled by the requester
    until the buyer has posted the goods back (``return_tracking_no`` recorded).
    """

    aftersale_no = models.CharField(_("after-sale number"), max_length=24, unique=True)
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="aftersales", verbose_name=_("order")
    )
    shop = models.ForeignKey(
        "shops.Shop", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("shop")
    )
    type = models.CharField(_("type"), max_length=16, choices=AfterSaleType.choices)
    status = FSMField(_("status"), max_length=16, choices=AfterSaleStatus.choices, default=A.REQUESTED, protected=True)
    source = models.CharField(_("source"), max_length=16, choices=AfterSaleSource.choices)
    # NULL unless the platform opened it, so the per-shop unique constraint ignores the others.
    platform_refund_id = models.CharField(  # noqa: DJ001
        _("platform refund id"), max_length=64, null=True, blank=True
    )
    requested_amount = models.DecimalField(_("requested amount"), max_digits=12, decimal_places=2, default=0)
    approved_amount = models.DecimalField(_("approved amount"), max_digits=12, decimal_places=2, default=0)
    refunded_amount = models.DecimalField(_("refunded amount"), max_digits=12, decimal_places=2, default=0)
    # What earlier refund attempts gave back: a retry asks only for the rest, and settling the
    # current attempt adds what its refunds returned to this.
    refunded_before_attempt = models.DecimalField(
        _("refunded before this attempt"), max_digits=12, decimal_places=2, default=0
    )
    reason = models.CharField(_("reason"), max_length=255)
    notes = models.TextField(_("notes"), blank=True)
    reject_reason = models.CharField(_("reject reason"), max_length=255, blank=True)
    receiving_warehouse = models.ForeignKey(
        "inventory.Warehouse",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("receiving warehouse"),
    )
    return_carrier = models.CharField(_("return carrier"), max_length=32, blank=True)
    return_tracking_no = models.CharField(_("return tracking number"), max_length=64, blank=True, db_index=True)
    refund_attempts = models.PositiveSmallIntegerField(_("refund attempts"), default=0)
    refund_reference = models.CharField(_("refund reference"), max_length=64, blank=True, db_index=True)
    fulfillment_no = models.CharField(_("replacement fulfillment"), max_length=24, blank=True, db_index=True)
    created_by = models.CharField(_("created by"), max_length=64)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("after-sale")
        verbose_name_plural = _("after-sales")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["shop", "platform_refund_id"], name="aftersale_platform_id_unique_per_shop"
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="aftersale_status_created")]
        permissions = [("process_aftersale", _("Can approve, reject, receive, refund and ship after-sales"))]

    def __str__(self) -> str:
        return self.aftersale_no

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_STATUSES

    @property
    def needs_return(self) -> bool:
        return self.type in RETURN_TYPES

    @property
    def needs_refund(self) -> bool:
        return self.type in REFUND_TYPES

    @property
    def needs_shipment(self) -> bool:
        return self.type in SHIPPING_TYPES

    # --- conditions --------------------------------------------------------------------

    def can_refund(self) -> bool:
        if not self.needs_refund:
            return False
        if self.status == A.APPROVED:
            return self.type == T.REFUND_ONLY
        return True

    def can_ship(self) -> bool:
        if self.status == A.APPROVED:
            return self.type == T.REISSUE
        return self.type == T.EXCHANGE

    def can_await_return(self) -> bool:
        return self.needs_return

    def can_cancel(self) -> bool:
        """Goods already posted back are on their way to us: the request can no longer be withdrawn."""
        return not self.return_tracking_no

    # --- transitions: they only change the instance; services save, log and publish ----

    @transition(field=status, source=A.REQUESTED, target=A.APPROVED)
    def approve(self) -> None:
        pass

    @transition(field=status, source=A.REQUESTED, target=A.REJECTED)
    def reject(self) -> None:
        pass

    @transition(
        field=status, source=[A.REQUESTED, A.APPROVED, A.AWAITING_RETURN], target=A.CANCELLED, conditions=[can_cancel]
    )
    def cancel(self) -> None:
        pass

    @transition(field=status, source=A.APPROVED, target=A.AWAITING_RETURN, conditions=[can_await_return])
    def await_return(self) -> None:
        pass

    @transition(field=status, source=A.AWAITING_RETURN, target=A.RECEIVED)
    def receive(self) -> None:
        pass

    @transition(
        field=status, source=[A.APPROVED, A.RECEIVED, A.REFUND_FAILED], target=A.REFUNDING, conditions=[can_refund]
    )
    def start_refund(self) -> None:
        pass

    @transition(field=status, source=A.REFUNDING, target=A.REFUND_FAILED)
    def fail_refund(self) -> None:
        pass

    # From refund_failed too: the provider reported success late, after we gave up waiting.
    @transition(field=status, source=[A.REFUNDING, A.REFUND_FAILED], target=A.COMPLETED)
    def finish_refund(self) -> None:
        self.completed_at = timezone.now()

    @transition(field=status, source=[A.APPROVED, A.RECEIVED], target=A.SHIPPING, conditions=[can_ship])
    def start_shipping(self) -> None:
        pass

    @transition(field=status, source=A.SHIPPING, target=A.COMPLETED)
    def finish_shipping(self) -> None:
        self.completed_at = timezone.now()

    @transition(field=status, source=A.APPROVED, target=A.COMPLETED)
    def close_with_order(self) -> None:
        """The order was unpaid: cancelling it was the whole remedy."""
        self.completed_at = timezone.now()


class AfterSaleLine(models.Model):
    aftersale = models.ForeignKey(
        AfterSale, on_delete=models.CASCADE, related_name="lines", verbose_name=_("after-sale")
    )
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.PROTECT, related_name="aftersale_lines", verbose_name=_("order line")
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    exchange_sku = models.ForeignKey(
        "inventory.Sku",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("exchange SKU"),
        help_text=_("The SKU sent instead (another size or colour); empty sends the same SKU."),
    )
    inspection = models.CharField(_("inspection result"), max_length=16, choices=Inspection.choices, blank=True)

    class Meta:
        verbose_name = _("after-sale line")
        verbose_name_plural = _("after-sale lines")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.order_line_id} x{self.quantity}"


class AfterSaleLog(models.Model):
    aftersale = models.ForeignKey(
        AfterSale, on_delete=models.CASCADE, related_name="logs", verbose_name=_("after-sale")
    )
    from_status = models.CharField(_("from"), max_length=16, blank=True)
    to_status = models.CharField(_("to"), max_length=16)
    operator = models.CharField(_("operator"), max_length=64)
    remark = models.CharField(_("remark"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("after-sale log")
        verbose_name_plural = _("after-sale logs")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.aftersale_id}: {self.from_status} -> {self.to_status}"


class WorkOrderCategory(models.TextChoices):
    LOGISTICS = "logistics", _("Logistics")
    QUALITY = "quality", _("Quality")
    REFUND = "refund", _("Refund")
    COMPLAINT = "complaint", _("Complaint")
    OTHER = "other", _("Other")


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


PRIORITY_ORDER = (Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT)


class WorkOrderStatus(models.TextChoices):
    OPEN = "open", _("Open")
    IN_PROGRESS = "in_progress", _("In progress")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


W = WorkOrderStatus
ACTIVE_WORKORDER_STATUSES = frozenset({W.OPEN, W.IN_PROGRESS})


class WorkOrder(FSMModelMixin, models.Model):
    """A customer-service ticket (工单), due within the SLA of its priority.

    ``due_at`` is set from ``WORKORDER_SLA_HOURS`` when opened; the beat job escalates an
    active ticket past it (priority up one step, ``escalation_level`` + 1, a comment, an
    alert) at most once per SLA period of its new priority (``last_escalated_at``).
    """

    number = models.CharField(_("number"), max_length=24, unique=True)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    order = models.ForeignKey(
        "orders.Order",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="workorders",
        verbose_name=_("order"),
    )
    aftersale = models.ForeignKey(
        AfterSale,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="workorders",
        verbose_name=_("after-sale"),
    )
    category = models.CharField(_("category"), max_length=16, choices=WorkOrderCategory.choices)
    priority = models.CharField(_("priority"), max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    status = FSMField(_("status"), max_length=16, choices=WorkOrderStatus.choices, default=W.OPEN, protected=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="workorders",
        verbose_name=_("assignee"),
    )
    due_at = models.DateTimeField(_("due at"), db_index=True)
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    last_escalated_at = models.DateTimeField(_("last escalated at"), null=True, blank=True)
    created_by = models.CharField(_("created by"), max_length=64)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("work order")
        verbose_name_plural = _("work orders")
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "due_at"], name="workorder_status_due")]

    def __str__(self) -> str:
        return self.number

    @property
    def is_overdue(self) -> bool:
        return self.status in ACTIVE_WORKORDER_STATUSES and self.due_at <= timezone.now()

    @transition(field=status, source=W.OPEN, target=W.IN_PROGRESS)
    def start(self) -> None:
        pass

    @transition(field=status, source=[W.OPEN, W.IN_PROGRESS], target=W.RESOLVED)
    def resolve(self) -> None:
        self.resolved_at = timezone.now()

    @transition(field=status, source=W.RESOLVED, target=W.IN_PROGRESS)
    def reopen(self) -> None:
        self.resolved_at = None

    @transition(field=status, source=[W.OPEN, W.IN_PROGRESS, W.RESOLVED], target=W.CLOSED)
    def close(self) -> None:
        self.closed_at = timezone.now()


class WorkOrderComment(models.Model):
    work_order = models.ForeignKey(
        WorkOrder, on_delete=models.CASCADE, related_name="comments", verbose_name=_("work order")
    )
    author = models.CharField(_("author"), max_length=64)
    body = models.TextField(_("comment"))
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("work order comment")
        verbose_name_plural = _("work order comments")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.work_order_id}: {self.body[:40]}"
