"""The customer-service console for after-sales and work orders.

Every button calls a service; a refused step shows its message and changes nothing.
Approving, rejecting, recording the return parcel and receiving ask for details on an
intermediate page (the approved amount, receiving warehouse and remark; a reason; the
carrier and tracking number; the warehouse and the inspection of each line). The processing steps need ``aftersales.process_aftersale``. Recipients' phones are
masked unless the user may see personal data.

Staff open an after-sale for a buyer who phoned (source ``staff``) on the add page, which
needs ``aftersales.add_aftersale``: first the order number (``add/?order_no=<no>`` opens
the second step directly, e.g. from a link on the order), then the type, reason, notes,
amount and the quantity of each order line, with a replacement SKU per line for an exchange.
"""

import uuid
from datetime import timedelta
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.aftersales.models import (
    ACTIVE_WORKORDER_STATUSES,
    AfterSale,
    AfterSaleLine,
    AfterSaleLog,
    AfterSaleSource,
    AfterSaleType,
    Inspection,
    WorkOrder,
    WorkOrderComment,
)
from apps.aftersales.services.aftersales import (
    AfterSaleLineInput,
    aftersale_approve,
    aftersale_cancel,
    aftersale_create,
    aftersale_needs_platform_refund,
    aftersale_receive,
    aftersale_refund,
    aftersale_reject,
    aftersale_return_shipment,
    aftersale_ship_replacement,
    committed_quantities,
    platform_refund_notice,
    refundable_amount,
)
from apps.aftersales.services.workorders import (
    workorder_assign,
    workorder_close,
    workorder_comment_add,
    workorder_create,
    workorder_reopen,
    workorder_resolve,
    workorder_start,
)
from apps.core.admin_actions import admin_actor, run_each
from apps.core.exceptions import ApplicationError
from apps.core.models import IdempotencyKey
from apps.core.personal_data import mask_name, mask_phone, may_see_personal_data
from apps.core.replicas import ReplicaReadsAdminMixin
from apps.inventory.models import Sku, Warehouse
from apps.orders.models import Order

PROCESS_PERMISSION = "aftersales.process_aftersale"


class AfterSaleLineInline(admin.TabularInline):
    model = AfterSaleLine
    extra = 0
    can_delete = False
    fields = ("order_line", "sku_code", "quantity", "exchange_sku", "inspection")
    readonly_fields = fields

    @admin.display(description=_("SKU"))
    def sku_code(self, obj):
        return obj.order_line.sku_code

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order_line", "exchange_sku")

    def has_add_permission(self, request, obj=None):
        return False


class AfterSaleLogInline(admin.TabularInline):
    model = AfterSaleLog
    extra = 0
    can_delete = False
    verbose_name_plural = _("timeline")
    fields = ("created_at", "from_status", "to_status", "operator", "remark")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class ApproveForm(forms.Form):
    """One after-sale: the amount to approve (refund types, at most the requested amount) and
    the receiving warehouse (return types). Several at once: each gets what it requested."""

    remark = forms.CharField(label=_("Remark"), max_length=255, required=False)

    def __init__(self, *args, aftersale: AfterSale | None, **kwargs):
        super().__init__(*args, **kwargs)
        if aftersale is None:
            return
        if aftersale.needs_refund:
            self.fields["amount"] = forms.DecimalField(
                label=_("Approved amount"),
                max_digits=12,
                decimal_places=2,
                min_value=Decimal("0.01"),
                max_value=aftersale.requested_amount,
                initial=aftersale.requested_amount,
                help_text=_("At most the requested amount."),
            )
        if aftersale.needs_return:
            self.fields["warehouse"] = forms.ModelChoiceField(
                label=_("Receiving warehouse"),
                queryset=Warehouse.objects.filter(is_active=True),
                required=False,
                help_text=_("Empty: the warehouse that shipped the order."),
            )
        self.order_fields(["amount", "warehouse", "remark"])


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=255)


class ReturnShipmentForm(forms.Form):
    carrier = forms.CharField(label=_("Carrier"), max_length=32)
    tracking_no = forms.CharField(label=_("Tracking number"), max_length=64)


class ReceiveForm(forms.Form):
    """The receiving warehouse and one inspection result per line of the after-sale."""

    warehouse = forms.ModelChoiceField(
        label=_("Receiving warehouse"), queryset=Warehouse.objects.filter(is_active=True)
    )

    def __init__(self, *args, aftersale: AfterSale, **kwargs):
        super().__init__(*args, **kwargs)
        self.aftersale = aftersale
        self.fields["warehouse"].initial = aftersale.receiving_warehouse_id
        for line in aftersale.lines.select_related("order_line"):
            self.fields[f"line_{line.pk}"] = forms.ChoiceField(
                label=f"{line.order_line.sku_code} x{line.quantity}",
                choices=Inspection.choices,
                initial=Inspection.SELLABLE,
            )

    def inspections(self) -> dict[int, str]:
        return {int(name[5:]): value for name, value in self.cleaned_data.items() if name.startswith("line_")}


class OrderNumberForm(forms.Form):
    """First step of opening an after-sale: which order."""

    shown_fields = ("order_no",)
    order_no = forms.CharField(label=_("Order number"), max_length=32)


class AfterSaleCreateForm(forms.Form):
    """Second step: the request itself, and a quantity (plus an exchange SKU) per order line.

    Quantities are checked against what is still returnable by ``aftersale_create`` under
    the order's row lock, not here: the form only shows the numbers.
    """

    shown_fields = ("type", "reason", "notes", "amount")

    order_no = forms.CharField(widget=forms.HiddenInput)
    # One per form shown: a double click or a resent form opens the after-sale once.
    submission = forms.CharField(widget=forms.HiddenInput, max_length=32)
    type = forms.ChoiceField(label=_("Type"), choices=AfterSaleType.choices)
    reason = forms.CharField(label=_("Reason"), max_length=255)
    notes = forms.CharField(label=_("Notes"), widget=forms.Textarea(attrs={"rows": 3}), required=False)
    amount = forms.DecimalField(
        label=_("Refund amount"),
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0"),
        required=False,
    )

    def __init__(self, *args, order: Order, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["order_no"].initial = order.order_no
        self.fields["submission"].initial = uuid.uuid4().hex
        self.fields["amount"].help_text = gettext(
            "Refund only and return and refund: at most %(refundable)s is still refundable. "
            "Exchange and reissue: leave empty."
        ) % {"refundable": refundable_amount(order)}
        claimed = committed_quantities(order)
        self.rows = []
        for line in order.lines.all():
            self.fields[f"quantity_{line.pk}"] = forms.IntegerField(
                label=_("Quantity"), min_value=0, initial=0, required=False, widget=forms.NumberInput(attrs={"size": 5})
            )
            self.fields[f"exchange_{line.pk}"] = forms.ModelChoiceField(
                label=_("Replacement SKU"),
                queryset=Sku.objects.all(),
                to_field_name="code",
                required=False,
                widget=forms.TextInput(attrs={"size": 16}),
                error_messages={"invalid_choice": _("No SKU has this code.")},
            )
            self.rows.append(
                {
                    "line": line,
                    "returnable": max(line.quantity - claimed.get(line.pk, 0), 0),
                    "quantity": self[f"quantity_{line.pk}"],
                    "exchange": self[f"exchange_{line.pk}"],
                }
            )

    def clean(self):
        data = super().clean()
        for row in self.rows:
            pk = row["line"].pk
            if data.get(f"exchange_{pk}") and not data.get(f"quantity_{pk}"):
                self.add_error(f"quantity_{pk}", gettext("Enter how many to exchange for the replacement SKU."))
        return data

    def line_inputs(self) -> list[AfterSaleLineInput]:
        data = self.cleaned_data
        inputs = []
        for row in self.rows:
            pk = row["line"].pk
            quantity = data.get(f"quantity_{pk}") or 0
            if quantity:
                exchange = data.get(f"exchange_{pk}")
                inputs.append(AfterSaleLineInput(pk, quantity, exchange.pk if exchange else None))
        return inputs


def _once_per_submission(request, submission: str, open_aftersale) -> tuple[AfterSale, bool]:
    """Run ``open_aftersale`` once per add form shown; ``(after-sale, opened now)``.

    The form's token is claimed as an ``IdempotencyKey`` in the transaction that opens the
    after-sale: a refused request frees it again, and the same form sent twice (a double
    click, a resent page) waits for the first and gets its after-sale.
    """
    scope = f"admin:{request.user.pk}"
    key = f"aftersale_add:{submission}"
    with transaction.atomic():
        try:
            with transaction.atomic():
                claim = IdempotencyKey.objects.create(
                    scope=scope,
                    key=key,
                    fingerprint="",
                    expires_at=timezone.now() + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS),
                )
        except IntegrityError:
            claim = None
        if claim is not None:
            aftersale = open_aftersale()
            claim.response_status = 302
            claim.response_body = {"aftersale_no": aftersale.aftersale_no}
            claim.save(update_fields=["response_status", "response_body"])
            return aftersale, True
    first = IdempotencyKey.objects.get(scope=scope, key=key)
    return AfterSale.objects.get(aftersale_no=first.response_body["aftersale_no"]), False


@admin.register(AfterSale)
class AfterSaleAdmin(ReplicaReadsAdminMixin, admin.ModelAdmin):
    list_display = (
        "aftersale_no",
        "order",
        "type",
        "status",
        "source",
        "requested_amount",
        "approved_amount",
        "refunded_amount",
        "created_at",
    )
    list_filter = ("type", "status", "source", "created_at")
    search_fields = ("aftersale_no", "order__order_no", "platform_refund_id", "return_tracking_no")
    list_select_related = ("order",)
    inlines = [AfterSaleLineInline, AfterSaleLogInline]
    actions = ["approve", "reject", "return_shipment", "receive", "refund", "ship_replacement", "cancel"]
    fieldsets = (
        (None, {"fields": ("aftersale_no", "order", "recipient", "type", "status", "source", "platform_refund_id")}),
        (_("Money"), {"fields": ("requested_amount", "approved_amount", "refunded_amount", "refund_reference")}),
        (_("Request"), {"fields": ("reason", "notes", "reject_reason", "created_by", "created_at", "completed_at")}),
        (
            _("Goods"),
            {"fields": ("receiving_warehouse", "return_carrier", "return_tracking_no", "fulfillment_no")},
        ),
    )

    def get_readonly_fields(self, request, obj=None):
        return [field for group in self.fieldsets for field in group[1]["fields"]]

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order", "receiving_warehouse")

    def add_view(self, request, form_url="", extra_context=None):
        """Open an after-sale for a buyer who called: the order number, then the request.

        The request goes to ``aftersale_create`` (source staff); a refusal is shown on the
        form with its message and nothing is created.
        """
        if not self.has_add_permission(request):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else request.GET
        order_no = (data.get("order_no") or "").strip()
        if not order_no:
            return self._add_page(request, OrderNumberForm())
        order = Order.objects.filter(order_no=order_no).first()
        if order is None:
            form = OrderNumberForm({"order_no": order_no})
            form.add_error("order_no", gettext("Order %(no)s does not exist.") % {"no": order_no})
            return self._add_page(request, form)
        form = AfterSaleCreateForm(request.POST if request.method == "POST" else None, order=order)
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            try:
                aftersale, opened = _once_per_submission(
                    request,
                    data["submission"],
                    lambda: aftersale_create(
                        order_no=order.order_no,
                        type=data["type"],
                        lines=form.line_inputs(),
                        amount=data["amount"] or Decimal("0"),
                        reason=data["reason"],
                        notes=data["notes"],
                        source=AfterSaleSource.STAFF,
                        actor=admin_actor(request),
                    ),
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                if opened:
                    message = gettext("After-sale %(no)s opened for order %(order)s: %(status)s.")
                else:
                    message = gettext("This form was already sent: after-sale %(no)s was opened for order %(order)s.")
                values = {
                    "no": aftersale.aftersale_no,
                    "order": order.order_no,
                    "status": aftersale.get_status_display(),
                }
                self.message_user(request, message % values, messages.SUCCESS if opened else messages.WARNING)
                return HttpResponseRedirect(reverse("admin:aftersales_aftersale_change", args=[aftersale.pk]))
        return self._add_page(request, form, order=order)

    def _add_page(self, request, form, *, order: Order | None = None):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Open an after-sale"),
            "form": form,
            "order": order,
            "fields": [form[name] for name in form.shown_fields],
        }
        if order is None:
            context["intro"] = gettext("The order the buyer is calling about.")
            context["submit_label"] = gettext("Next")
        else:
            context["intro"] = gettext("Order %(no)s: %(status)s, paid %(paid)s.") % {
                "no": order.order_no,
                "status": order.get_status_display(),
                "paid": order.paid_amount,
            }
            context["order_url"] = reverse("admin:orders_order_change", args=[order.pk])
            context["rows"] = form.rows
            context["headers"] = [
                gettext("SKU"),
                gettext("Product"),
                gettext("Bought"),
                gettext("Still returnable"),
                gettext("Quantity to return or send"),
                gettext("Replacement SKU (exchange)"),
            ]
            context["submit_label"] = gettext("Open the after-sale")
            context["other_order_label"] = gettext("Another order")
        return TemplateResponse(request, "admin/aftersales/aftersale/add_form.html", context)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj.may_see_personal_data = may_see_personal_data(request)
        return obj

    @admin.display(description=_("recipient"))
    def recipient(self, obj):
        order = obj.order
        if getattr(obj, "may_see_personal_data", False):
            return f"{order.recipient_name} {order.recipient_phone} {order.province}{order.city}{order.address}"
        return f"{mask_name(order.recipient_name)} {mask_phone(order.recipient_phone)} {order.province}{order.city}"

    def _form_page(self, request, queryset, *, action, title, intro, form):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "intro": intro,
            "form": form,
            "action": action,
            "objects": queryset,
        }
        return TemplateResponse(request, "admin/oms/action_form.html", context)

    def has_process_permission(self, request):
        return request.user.has_perm(PROCESS_PERMISSION)

    @admin.action(description=_("Approve (amount, warehouse, remark)"), permissions=["process"])
    def approve(self, request, queryset):
        objects = list(queryset)
        single = objects[0] if len(objects) == 1 else None
        form = ApproveForm(request.POST if "apply" in request.POST else None, aftersale=single)
        if form.is_bound and form.is_valid():
            actor = admin_actor(request)
            data = form.cleaned_data
            warehouse = data.get("warehouse")
            run_each(
                self,
                request,
                objects,
                lambda obj: aftersale_approve(
                    aftersale_no=obj.aftersale_no,
                    actor=actor,
                    approved_amount=data.get("amount"),
                    receiving_warehouse_id=warehouse.pk if warehouse else None,
                    remark=data["remark"],
                ),
                gettext("%(count)d after-sales approved."),
            )
            return None
        if single is not None:
            intro = gettext("Requested: %(amount)s. Reason: %(reason)s") % {
                "amount": single.requested_amount,
                "reason": single.reason,
            }
        else:
            intro = gettext("Each selected after-sale is approved for the amount it requested.")
        return self._form_page(
            request, objects, action="approve", title=gettext("Approve after-sales"), intro=intro, form=form
        )

    @admin.action(description=_("Reject (with a reason)"), permissions=["process"])
    def reject(self, request, queryset):
        form = RejectForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            actor = admin_actor(request)
            reason = form.cleaned_data["reason"]
            run_each(
                self,
                request,
                queryset,
                lambda obj: aftersale_reject(aftersale_no=obj.aftersale_no, actor=actor, reason=reason),
                gettext("%(count)d after-sales rejected."),
            )
            return None
        return self._form_page(
            request,
            queryset,
            action="reject",
            title=gettext("Reject after-sales"),
            intro=gettext("The buyer sees this reason."),
            form=form,
        )

    @admin.action(description=_("Record the return parcel (carrier, tracking number)"), permissions=["process"])
    def return_shipment(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, gettext("Record one return parcel at a time."), messages.ERROR)
            return None
        form = ReturnShipmentForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            actor = admin_actor(request)
            run_each(
                self,
                request,
                queryset,
                lambda obj: aftersale_return_shipment(
                    aftersale_no=obj.aftersale_no,
                    carrier=form.cleaned_data["carrier"],
                    tracking_no=form.cleaned_data["tracking_no"],
                    actor=actor,
                ),
                gettext("%(count)d return parcels recorded."),
            )
            return None
        return self._form_page(
            request,
            queryset,
            action="return_shipment",
            title=gettext("Record the return parcel"),
            intro=gettext("The parcel the buyer sent back; once recorded the buyer can no longer cancel."),
            form=form,
        )

    @admin.action(description=_("Mark the returned goods received (inspection)"), permissions=["process"])
    def receive(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, gettext("Receive one after-sale at a time."), messages.ERROR)
            return None
        aftersale = queryset.get()
        form = ReceiveForm(request.POST if "apply" in request.POST else None, aftersale=aftersale)
        if form.is_bound and form.is_valid():
            run_each(
                self,
                request,
                [aftersale],
                lambda obj: aftersale_receive(
                    aftersale_no=obj.aftersale_no,
                    actor=admin_actor(request),
                    inspections=form.inspections(),
                    warehouse_id=form.cleaned_data["warehouse"].pk,
                ),
                gettext("%(count)d after-sales received."),
            )
            return None
        return self._form_page(
            request,
            queryset,
            action="receive",
            title=gettext("Receive returned goods"),
            intro=gettext("Sellable goods go back on hand; damaged goods are recorded only."),
            form=form,
        )

    @admin.action(description=_("Refund the approved amount"), permissions=["process"])
    def refund(self, request, queryset):
        actor = admin_actor(request)

        def step(obj):
            aftersale = aftersale_refund(aftersale_no=obj.aftersale_no, actor=actor)
            if aftersale_needs_platform_refund(aftersale):
                # Paid on the platform: only recorded here; staff still refund the buyer there.
                self.message_user(
                    request, platform_refund_notice(aftersale, aftersale.approved_amount), messages.WARNING
                )

        run_each(self, request, queryset, step, gettext("%(count)d refunds requested."))

    @admin.action(description=_("Ship the replacement (exchange / reissue)"), permissions=["process"])
    def ship_replacement(self, request, queryset):
        actor = admin_actor(request)
        run_each(
            self,
            request,
            queryset,
            lambda obj: aftersale_ship_replacement(aftersale_no=obj.aftersale_no, actor=actor),
            gettext("%(count)d replacement fulfillments created."),
        )

    @admin.action(description=_("Cancel on the requester's behalf"), permissions=["process"])
    def cancel(self, request, queryset):
        actor = admin_actor(request)
        run_each(
            self,
            request,
            queryset,
            lambda obj: aftersale_cancel(aftersale_no=obj.aftersale_no, actor=actor),
            gettext("%(count)d after-sales cancelled."),
        )


class OverdueFilter(admin.SimpleListFilter):
    title = _("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Overdue")), ("no", _("On time"))]

    def queryset(self, request, queryset):
        overdue = Q(status__in=ACTIVE_WORKORDER_STATUSES, due_at__lte=timezone.now())
        if self.value() == "yes":
            return queryset.filter(overdue)
        if self.value() == "no":
            return queryset.exclude(overdue)
        return queryset


class WorkOrderCommentInline(admin.TabularInline):
    model = WorkOrderComment
    extra = 0
    can_delete = False
    fields = ("created_at", "author", "body")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class WorkOrderForm(forms.ModelForm):
    new_comment = forms.CharField(label=_("Add a comment"), widget=forms.Textarea(attrs={"rows": 3}), required=False)

    class Meta:
        model = WorkOrder
        fields = ["title", "description", "category", "priority", "order", "aftersale", "assignee"]


@admin.register(WorkOrder)
class WorkOrderAdmin(admin.ModelAdmin):
    form = WorkOrderForm
    list_display = (
        "number",
        "title",
        "category",
        "priority",
        "status",
        "assignee",
        "due",
        "escalation_level",
        "order",
        "aftersale",
    )
    list_filter = (OverdueFilter, "status", "priority", "category", "escalation_level")
    search_fields = ("number", "title", "order__order_no", "aftersale__aftersale_no")
    list_select_related = ("assignee", "order", "aftersale")
    raw_id_fields = ("order", "aftersale")
    inlines = [WorkOrderCommentInline]
    actions = ["assign_to_me", "start", "resolve", "reopen", "close"]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["title", "description", "category", "priority", "order", "aftersale", "assignee"]
        return [
            "number",
            "title",
            "description",
            "category",
            "priority",
            "status",
            "order",
            "aftersale",
            "assignee",
            "due_at",
            "escalation_level",
            "created_by",
            "created_at",
            "new_comment",
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [
            "number",
            "title",
            "description",
            "category",
            "priority",
            "status",
            "order",
            "aftersale",
            "due_at",
            "escalation_level",
            "created_by",
            "created_at",
        ]

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("due"), ordering="due_at")
    def due(self, obj):
        text = timezone.localtime(obj.due_at).strftime("%Y-%m-%d %H:%M")
        if obj.is_overdue:
            return format_html('<strong style="color:#ba2121">{} ({})</strong>', text, gettext("overdue"))
        return text

    def save_model(self, request, obj, form, change):
        """New tickets and changes go through the services; the form never saves the row."""
        actor = admin_actor(request)
        if not change:
            data = form.cleaned_data
            created = workorder_create(
                title=data["title"],
                description=data["description"],
                category=data["category"],
                priority=data["priority"],
                order_no=data["order"].order_no if data["order"] else None,
                aftersale_no=data["aftersale"].aftersale_no if data["aftersale"] else None,
                assignee_id=data["assignee"].pk if data["assignee"] else None,
                actor=actor,
            )
            obj.pk = created.pk
            obj.number = created.number
            return
        if "assignee" in form.changed_data and form.cleaned_data["assignee"] is not None:
            workorder_assign(number=obj.number, assignee_id=form.cleaned_data["assignee"].pk, actor=actor)
        if form.cleaned_data.get("new_comment"):
            workorder_comment_add(number=obj.number, author=actor, body=form.cleaned_data["new_comment"])

    def save_related(self, request, form, formsets, change):
        """Comments are added through the service in ``save_model``; nothing else to save."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return self.response_post_save_change(request, None)

    @admin.action(description=_("Assign to me"), permissions=["change"])
    def assign_to_me(self, request, queryset):
        actor = admin_actor(request)
        run_each(
            self,
            request,
            queryset,
            lambda obj: workorder_assign(number=obj.number, assignee_id=request.user.pk, actor=actor),
            gettext("%(count)d work orders assigned to you."),
        )

    @admin.action(description=_("Start working"), permissions=["change"])
    def start(self, request, queryset):
        actor = admin_actor(request)
        run_each(
            self,
            request,
            queryset,
            lambda obj: workorder_start(number=obj.number, actor=actor),
            gettext("%(count)d work orders started."),
        )

    @admin.action(description=_("Resolve"), permissions=["change"])
    def resolve(self, request, queryset):
        actor = admin_actor(request)
        run_each(
            self,
            request,
            queryset,
            lambda obj: workorder_resolve(number=obj.number, actor=actor),
            gettext("%(count)d work orders resolved."),
        )

    @admin.action(description=_("Reopen"), permissions=["change"])
    def reopen(self, request, queryset):
        actor = admin_actor(request)
        run_each(
            self,
            request,
            queryset,
            lambda obj: workorder_reopen(number=obj.number, actor=actor),
            gettext("%(count)d work orders reopened."),
        )

    @admin.action(description=_("Close"), permissions=["change"])
    def close(self, request, queryset):
        actor = admin_actor(request)
        run_each(
            self,
            request,
            queryset,
            lambda obj: workorder_close(number=obj.number, actor=actor),
            gettext("%(count)d work orders closed."),
        )
