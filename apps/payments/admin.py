"""The finance console: payments with their raw notifications, refunds, statements and the
differences reconciliation found. Every change goes through a service; refunds need the
``payments.issue_refund`` permission. Who paid (Alipay's buyer ids, WeChat's payer openid) is
masked in raw notifications unless the user may see personal data."""

import json
import uuid
from urllib.parse import parse_qsl, urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core.admin_actions import admin_actor
from apps.core.exceptions import ApplicationError
from apps.core.personal_data import mask_text, may_see_personal_data
from apps.core.replicas import ReplicaReadsAdminMixin
from apps.payments import services
from apps.payments.models import (
    Payment,
    PaymentNotification,
    Provider,
    ReconciliationResult,
    Refund,
    Statement,
)
from apps.payments.providers.base import ProviderRefused, ProviderUnavailable
from apps.payments.providers.config import ProviderMisconfigured

REFUND_PERMISSION = "payments.issue_refund"
# The payer, as each provider names it: Alipay's form fields, WeChat's (decrypted) payer.
PAYER_KEYS = frozenset({"buyer_id", "buyer_logon_id", "buyer_open_id", "buyer_user_id", "openid", "sub_openid"})


def _masked_json(value):
    if isinstance(value, dict):
        return {
            key: mask_text(str(item))
            if key.lower() in PAYER_KEYS and not isinstance(item, dict | list)
            else _masked_json(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_masked_json(item) for item in value]
    return value


def masked_notification_body(body: str) -> str:
    """A raw callback with the payer's ids masked: JSON (WeChat) or a form (Alipay). A body
    without payer fields is returned as received."""
    try:
        return json.dumps(_masked_json(json.loads(body)), ensure_ascii=False)
    except ValueError:
        pairs = parse_qsl(body, keep_blank_values=True)
        if not any(key.lower() in PAYER_KEYS for key, _value in pairs):
            return body
        return urlencode([(key, mask_text(v) if key.lower() in PAYER_KEYS else v) for key, v in pairs], safe="*@")


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class NotificationInline(_ReadOnlyInline):
    model = PaymentNotification
    fields = ("received_at", "event_type", "verified", "outcome", "error")
    readonly_fields = fields
    ordering = ("id",)


class RefundInline(_ReadOnlyInline):
    model = Refund
    fields = ("reference", "out_refund_no", "amount", "status", "provider_refund_id", "attempts", "last_error")
    readonly_fields = fields


class RefundForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount"), max_digits=12, decimal_places=2, min_value=0.01)
    reason = forms.CharField(label=_("Reason"), max_length=255)
    # Generated when the form is shown: submitting the same form twice refunds once.
    reference = forms.CharField(widget=forms.HiddenInput, max_length=64)


class StatementImportForm(forms.Form):
    provider = forms.ChoiceField(label=_("Provider"), choices=Provider.choices)
    bill_date = forms.DateField(label=_("Bill date"), widget=forms.DateInput(attrs={"type": "date"}))
    file = forms.FileField(label=_("Statement file (CSV)"))


@admin.register(Payment)
class PaymentAdmin(ReplicaReadsAdminMixin, admin.ModelAdmin):
    list_display = (
        "out_trade_no",
        "order_no",
        "provider",
        "amount",
        "status",
        "flagged_for_finance",
        "paid_at",
        "created_at",
    )
    list_filter = ("provider", "status", "flagged_for_finance", "created_at")
    search_fields = ("=out_trade_no", "=order_no", "=transaction_id")
    inlines = [RefundInline, NotificationInline]
    actions = ["query_provider", "refund", "refund_received"]
    fieldsets = (
        (None, {"fields": ("out_trade_no", "order_no", "provider", "amount", "status", "description")}),
        (_("Provider"), {"fields": ("transaction_id", "paid_amount", "paid_at", "client_params", "last_queried_at")}),
        (_("Finance"), {"fields": ("flagged_for_finance", "flag_reason", "closed_at", "created_by", "created_at")}),
    )

    def get_readonly_fields(self, request, obj=None):
        return [field for group in self.fieldsets for field in group[1]["fields"]]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_issue_refund_permission(self, request):
        return request.user.has_perm(REFUND_PERMISSION)

    @admin.action(description=_("Ask the provider for the current status"), permissions=["view"])
    def query_provider(self, request, queryset):
        done = 0
        for payment in queryset.filter(status="created"):
            try:
                services.payment_query(payment_id=payment.pk, actor=admin_actor(request))
                done += 1
            except (ApplicationError, ProviderUnavailable, ProviderRefused, ProviderMisconfigured) as exc:
                self.message_user(request, f"{payment.out_trade_no}: {exc}", messages.ERROR)
        self.message_user(request, gettext("%(count)d payments queried.") % {"count": done}, messages.SUCCESS)

    @admin.action(description=_("Refund what flagged payments received"), permissions=["issue_refund"])
    def refund_received(self, request, queryset):
        for payment_id in queryset.values_list("pk", flat=True):
            try:
                refund = services.payment_refund_received(
                    payment_id=payment_id,
                    reason=gettext("Paid amount differs from the payable amount."),
                    actor=admin_actor(request),
                )
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            self.message_user(
                request,
                gettext("Refund %(reference)s of %(amount)s requested.")
                % {"reference": refund.reference, "amount": refund.amount},
                messages.SUCCESS,
            )

    @admin.action(description=_("Refund the selected payment"), permissions=["issue_refund"])
    def refund(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, gettext("Select exactly one payment to refund."), messages.ERROR)
            return None
        payment = queryset.get()
        if "apply" in request.POST:
            form = RefundForm(request.POST)
            if form.is_valid():
                try:
                    refund = services.refund_request(
                        out_trade_no=payment.out_trade_no,
                        amount=form.cleaned_data["amount"],
                        reason=form.cleaned_data["reason"],
                        reference=form.cleaned_data["reference"],
                        actor=admin_actor(request),
                    )
                except ApplicationError as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                    return None
                self.message_user(
                    request,
                    gettext("Refund %(reference)s of %(amount)s requested.")
                    % {"reference": refund.reference, "amount": refund.amount},
                    messages.SUCCESS,
                )
                return None
        else:
            form = RefundForm(initial={"reference": f"admin-{uuid.uuid4().hex[:20]}", "amount": payment.amount})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Refund payment %(no)s") % {"no": payment.out_trade_no},
            "intro": gettext("Order %(order)s, paid %(amount)s.")
            % {"order": payment.order_no, "amount": payment.amount},
            "form": form,
            "action": "refund",
            "objects": [payment],
        }
        return TemplateResponse(request, "admin/oms/action_form.html", context)


@admin.register(PaymentNotification)
class PaymentNotificationAdmin(admin.ModelAdmin):
    list_display = ("received_at", "provider", "out_trade_no", "event_type", "verified", "outcome", "error")
    list_filter = ("provider", "verified", "outcome")
    search_fields = ("=out_trade_no",)
    list_select_related = ("payment",)
    readonly_fields = [*(f.name for f in PaymentNotification._meta.fields), "body_masked"]

    def get_fields(self, request, obj=None):
        body = "body" if may_see_personal_data(request) else "body_masked"
        return [body if field.name == "body" else field.name for field in PaymentNotification._meta.fields]

    @admin.display(description=_("body"))
    def body_masked(self, obj: PaymentNotification):
        return format_html('<pre style="white-space:pre-wrap">{}</pre>', masked_notification_body(obj.body))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    list_display = (
        "reference",
        "out_refund_no",
        "order_no",
        "payment",
        "amount",
        "status",
        "attempts",
        "last_error",
        "created_at",
    )
    list_filter = ("status", "payment__provider", "created_at")
    search_fields = ("=reference", "=out_refund_no", "=order_no", "=payment__out_trade_no", "=provider_refund_id")
    list_select_related = ("payment",)
    raw_id_fields = ("payment",)
    actions = ["submit_now"]
    readonly_fields = [f.name for f in Refund._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_issue_refund_permission(self, request):
        return request.user.has_perm(REFUND_PERMISSION)

    @admin.action(description=_("Send to the provider now / ask for the result"), permissions=["issue_refund"])
    def submit_now(self, request, queryset):
        for refund_id in queryset.filter(status__in=["requested", "processing"]).values_list("pk", flat=True):
            try:
                refund = services.refund_submit(refund_id=refund_id, actor=admin_actor(request))
            except ProviderMisconfigured as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return
            level = messages.ERROR if refund.status == "failed" else messages.INFO
            self.message_user(request, f"{refund.reference}: {refund.get_status_display()}", level)


class ResultInline(_ReadOnlyInline):
    model = ReconciliationResult
    fields = ("kind", "line_kind", "out_trade_no", "refund_reference", "order_no", "local_amount", "remote_amount")
    readonly_fields = fields
    show_change_link = False


@admin.register(Statement)
class StatementAdmin(admin.ModelAdmin):
    list_display = ("bill_date", "provider", "line_count", "mismatch_count", "imported_by", "imported_at")
    list_filter = ("provider", "bill_date")
    date_hierarchy = "bill_date"
    inlines = [ResultInline]
    readonly_fields = ("provider", "bill_date", "line_count", "mismatch_count", "imported_by", "imported_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view(self.import_view)
        return [path("import/", view, name="payments_statement_import"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "import_url": reverse("admin:payments_statement_import")}
        return super().changelist_view(request, extra_context)

    def import_view(self, request):
        if not request.user.has_perm("payments.add_statement"):
            raise PermissionDenied
        form = StatementImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                statement = services.statement_import(
                    provider=form.cleaned_data["provider"],
                    bill_date=form.cleaned_data["bill_date"],
                    data=form.cleaned_data["file"].read(),
                    actor=admin_actor(request),
                )
            except (ValueError, KeyError, ArithmeticError) as exc:
                self.message_user(request, gettext("Not a valid statement: %(error)s") % {"error": exc}, messages.ERROR)
            else:
                self.message_user(
                    request,
                    gettext("%(lines)d lines imported, %(diffs)d differences.")
                    % {"lines": statement.line_count, "diffs": statement.mismatch_count},
                    messages.SUCCESS,
                )
                return redirect("admin:payments_statement_change", statement.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Import a daily statement"),
            "intro": gettext("Upload the provider's statement CSV; importing a date again replaces it."),
            "form": form,
            "objects": [],
        }
        return TemplateResponse(request, "admin/oms/action_form.html", context)


@admin.register(ReconciliationResult)
class ReconciliationResultAdmin(admin.ModelAdmin):
    list_display = (
        "statement",
        "kind",
        "line_kind",
        "out_trade_no",
        "refund_reference",
        "order_no",
        "local_amount",
        "remote_amount",
        "local_status",
        "remote_status",
    )
    list_filter = ("kind", "line_kind", "statement__provider", "statement__bill_date")
    search_fields = ("=out_trade_no", "=order_no", "=refund_reference")
    list_select_related = ("statement",)
    readonly_fields = [f.name for f in ReconciliationResult._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
