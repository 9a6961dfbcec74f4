"""The channels console: shops (secrets write-only), SKU mappings, raw orders with their
payload, pull history, stock pushes and shipment write-backs. Actions call services."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.channels import services
from apps.channels.models import PullRun, RawOrder, ShipmentWriteBack, SkuMapping, StockPush
from apps.core.admin_actions import admin_actor
from apps.core.exceptions import ApplicationError
from apps.core.personal_data import mask_text, may_see_personal_data
from apps.core.replicas import ReplicaReadsAdminMixin
from apps.inventory.models import Warehouse
from apps.shops.models import Platform, Shop

PERSONAL_KEY_PARTS = ("mobile", "tel", "phone", "receiver", "fullname", "address", "user_name", "detail")
# Buyer ids (nick names, open ids), matched on the whole key: a part such as "pin" would also
# match "shipping". Per platform, as the simulator sends them and the adapters read them.
PERSONAL_KEYS_BY_PLATFORM = {
    Platform.TMALL: ("buyer_nick", "buyer_open_uid", "buyer_alipay_no"),
    Platform.JD: ("pin",),
    Platform.DOUYIN: ("doudian_open_id",),
    Platform.WECHAT: ("openid", "unionid"),
}
PERSONAL_KEYS = frozenset(key for keys in PERSONAL_KEYS_BY_PLATFORM.values() for key in keys)


def is_personal_key(key: str) -> bool:
    key = key.lower()
    return key in PERSONAL_KEYS or any(part in key for part in PERSONAL_KEY_PARTS)


def masked_payload(value, *, mask: bool):
    """The payload with buyer id, phone, name and address values masked (keys as the platform
    names them)."""
    if not mask:
        return value
    if isinstance(value, dict):
        return {
            key: (
                mask_text(str(item), keep=1)
                if is_personal_key(key) and not isinstance(item, dict | list)
                else masked_payload(item, mask=True)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [masked_payload(item, mask=True) for item in value]
    return value


class ShopForm(forms.ModelForm):
    api_url = forms.URLField(
        label=_("platform API URL"),
        required=False,
        assume_scheme="https",
        help_text=_("Leave empty for the platform's public endpoint."),
    )
    new_app_secret = forms.CharField(
        label=_("new app secret"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Stored encrypted and never shown. Leave empty to keep the current secret."),
    )
    new_access_token = forms.CharField(
        label=_("new access token"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_(
            "The seller's authorization of our app on the platform (Taobao session, JD / Douyin / WeChat "
            "access_token). Stored encrypted and never shown. Leave empty to keep the current token."
        ),
    )
    # The shop's warehouses are inventory's relation (``ShopWarehouse``), so not a shop field.
    warehouses = forms.ModelMultipleChoiceField(
        label=_("warehouses"),
        queryset=Warehouse.objects.all(),
        required=False,
        widget=FilteredSelectMultiple(_("warehouses"), is_stacked=False),
    )
    new_access_token_expires_at = forms.DateTimeField(
        label=_("new access token expires at"),
        required=False,
        help_text=_("When the new token expires (YYYY-MM-DD HH:MM); an alert is raised three days before."),
    )

    class Meta:
        model = Shop
        fields = [
            "code",
            "name",
            "platform",
            "app_key",
            "api_url",
            "is_active",
            "pull_enabled",
            "pull_interval_minutes",
            "pull_cursor",
            "stock_sync_ratio",
            "safety_stock",
            "rate_limit_create_per_minute",
            "rate_limit_create_burst",
            "rate_limit_read_per_minute",
            "rate_limit_read_burst",
            "rate_limit_push_per_minute",
            "rate_limit_push_burst",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["warehouses"].initial = self.instance.warehouses.all()

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("new_access_token_expires_at") and not cleaned.get("new_access_token"):
            self.add_error("new_access_token", _("Enter the new token together with its expiry."))
        return cleaned


class PullRunInline(admin.TabularInline):
    model = PullRun
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("started_at", "finished_at", "status", "pages", "orders_pulled", "error")
    readonly_fields = fields
    ordering = ("-id",)
    verbose_name_plural = _("recent pulls")

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        recent = list(queryset.order_by("-id").values_list("pk", flat=True)[:200])
        return queryset.filter(pk__in=recent)


@admin.register(Shop)
class ShopAdmin(admin.ModelAdmin):
    form = ShopForm
    list_display = (
        "code",
        "name",
        "platform",
        "is_active",
        "pull_enabled",
        "pull_interval_minutes",
        "pull_cursor",
        "last_pull_at",
        "pull_failures",
        "secret_set",
        "access_token_set",
        "access_token_expires_at",
    )
    list_filter = ("platform", "is_active", "pull_enabled")
    search_fields = ("code", "name", "app_key")
    readonly_fields = (
        "secret_set",
        "access_token_set",
        "access_token_expires_at",
        "last_pull_at",
        "pull_failures",
        "created_at",
    )
    inlines = [PullRunInline]
    actions = ["pull_now", "full_stock_sync"]

    @admin.display(boolean=True, description=_("secret set"))
    def secret_set(self, obj: Shop) -> bool:
        return bool(obj.app_secret_encrypted)

    @admin.display(boolean=True, description=_("access token set"))
    def access_token_set(self, obj: Shop) -> bool:
        return bool(obj.access_token_encrypted)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        secret = form.cleaned_data.get("new_app_secret")
        if secret:
            services.shop_set_app_secret(shop=obj, secret=secret, actor=admin_actor(request))
        token = form.cleaned_data.get("new_access_token")
        if token:
            services.shop_set_access_token(
                shop=obj,
                token=token,
                expires_at=form.cleaned_data.get("new_access_token_expires_at"),
                actor=admin_actor(request),
            )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        form.instance.warehouses.set(form.cleaned_data["warehouses"])

    @admin.action(description=_("Pull orders now"))
    def pull_now(self, request, queryset):
        from apps.channels.tasks import shop_pull_task

        for shop in queryset.filter(pull_enabled=True):
            shop_pull_task.delay(shop_id=shop.pk)
        self.message_user(request, _("Pulls queued."), messages.SUCCESS)

    @admin.action(description=_("Push all stock to the platform now"))
    def full_stock_sync(self, request, queryset):
        from apps.channels.tasks import stock_sync_shop_task

        for shop in queryset:
            stock_sync_shop_task.delay(shop_id=shop.pk, full=True)
        self.message_user(request, _("Stock syncs queued."), messages.SUCCESS)


class SkuMappingForm(forms.ModelForm):
    class Meta:
        model = SkuMapping
        fields = ["shop", "platform_sku_id", "outer_id", "platform_item_id", "sku"]


@admin.register(SkuMapping)
class SkuMappingAdmin(admin.ModelAdmin):
    form = SkuMappingForm
    list_display = ("shop", "platform_sku_id", "outer_id", "sku", "last_pushed_quantity", "last_pushed_at")
    list_filter = ("shop",)
    list_select_related = ("shop", "sku")
    search_fields = ("platform_sku_id", "outer_id", "sku__code")
    autocomplete_fields = ("sku",)
    readonly_fields = ("stock_dirty", "last_pushed_quantity", "last_pushed_at")

    def save_model(self, request, obj, form, change):
        _mapping, requeued = services.sku_mapping_save(mapping=obj, actor=admin_actor(request))
        if requeued:
            self.message_user(
                request,
                ngettext(
                    "%(count)d raw order waiting for this mapping was queued again.",
                    "%(count)d raw orders waiting for this mapping were queued again.",
                    requeued,
                )
                % {"count": requeued},
                messages.SUCCESS,
            )


@admin.register(RawOrder)
class RawOrderAdmin(ReplicaReadsAdminMixin, admin.ModelAdmin):
    list_display = (
        "platform_order_id",
        "shop",
        "platform_status",
        "status",
        "error_code",
        "short_error",
        "attempts",
        "order",
        "source",
        "received_at",
        "updated_at",
    )
    list_filter = ("status", "error_code", "source", "shop")
    list_select_related = ("shop", "order")
    search_fields = ("platform_order_id", "order__order_no")
    date_hierarchy = "received_at"
    actions = ["retry", "ignore"]
    fields = (
        "shop",
        "platform_order_id",
        "platform_status",
        "platform_updated_at",
        "source",
        "status",
        "error_code",
        "error",
        "attempts",
        "next_attempt_at",
        "order",
        "aftersale_refund_ids",
        "payload_hash",
        "received_at",
        "updated_at",
    )

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("error"))
    def short_error(self, obj: RawOrder) -> str:
        return obj.error[:80]

    @admin.display(description=_("payload as received"))
    def payload_masked(self, obj: RawOrder):
        return self._pre(masked_payload(obj.payload, mask=True))

    @admin.display(description=_("payload as received"))
    def payload_full(self, obj: RawOrder):
        return self._pre(obj.payload)

    @staticmethod
    def _pre(payload):
        text = json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=True)
        return format_html('<pre style="max-height:40em;overflow:auto;white-space:pre-wrap">{}</pre>', text)

    def get_fields(self, request, obj=None):
        full = may_see_personal_data(request)
        return (*self.fields, "payload_full" if full else "payload_masked")

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    @admin.action(description=_("Retry conversion"))
    def retry(self, request, queryset):
        try:
            count = services.raw_orders_requeue(
                raw_order_ids=list(queryset.values_list("pk", flat=True)), actor=admin_actor(request)
            )
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(
            request, _("%(count)d raw orders queued for conversion.") % {"count": count}, messages.SUCCESS
        )

    @admin.action(description=_("Ignore (do not convert)"))
    def ignore(self, request, queryset):
        try:
            count = services.raw_orders_ignore(
                raw_order_ids=list(queryset.values_list("pk", flat=True)), actor=admin_actor(request)
            )
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, _("%(count)d raw orders ignored.") % {"count": count}, messages.SUCCESS)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PullRun)
class PullRunAdmin(ReadOnlyAdmin):
    list_display = (
        "shop",
        "started_at",
        "finished_at",
        "status",
        "pages",
        "orders_pulled",
        "window_start",
        "window_end",
        "short_error",
    )
    list_filter = ("status", "shop")
    list_select_related = ("shop",)
    date_hierarchy = "started_at"

    @admin.display(description=_("error"))
    def short_error(self, obj: PullRun) -> str:
        return obj.error[:120]


@admin.register(StockPush)
class StockPushAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "shop", "mapping", "quantity", "status", "error")
    list_filter = ("status", "shop")
    list_select_related = ("shop", "mapping")
    date_hierarchy = "created_at"


@admin.register(ShipmentWriteBack)
class ShipmentWriteBackAdmin(admin.ModelAdmin):
    list_display = (
        "fulfillment_no",
        "platform_order_id",
        "shop",
        "carrier",
        "tracking_no",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
    )
    list_filter = ("status", "shop")
    list_select_related = ("shop",)
    search_fields = ("fulfillment_no", "platform_order_id", "tracking_no")
    readonly_fields = [f.name for f in ShipmentWriteBack._meta.fields]
    actions = ["retry"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Retry failed write-backs"))
    def retry(self, request, queryset):
        try:
            count = services.writeback_retry(
                write_back_ids=list(queryset.values_list("pk", flat=True)), actor=admin_actor(request)
            )
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, _("%(count)d write-backs queued again.") % {"count": count}, messages.SUCCESS)
