from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.core.alerts import alert_resolve
from apps.core.models import Alert, IdempotencyKey, OutboxDelivery, OutboxEvent
from apps.core.outbox import outbox_retry
from apps.core.personal_data import may_see_personal_data


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OutboxDeliveryInline(admin.TabularInline):
    model = OutboxDelivery
    extra = 0
    can_delete = False
    fields = ("consumer", "status", "attempts", "next_attempt_at", "delivered_at", "last_error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "topic", "aggregate_type", "aggregate_id", "created_at", "fanned_out")
    list_filter = ("topic", "aggregate_type", "fanned_out")
    search_fields = ("aggregate_id",)
    inlines = [OutboxDeliveryInline]


@admin.register(OutboxDelivery)
class OutboxDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "consumer", "event", "status", "attempts", "next_attempt_at", "short_error")
    list_filter = ("status", "consumer")
    list_select_related = ("event",)
    search_fields = ("event__aggregate_id",)
    actions = ["retry"]

    @admin.display(description=_("last error"))
    def short_error(self, obj):
        return obj.last_error[:120]

    @admin.action(description=_("Retry the selected failed deliveries"))
    def retry(self, request, queryset):
        count = outbox_retry(delivery_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            ngettext("%(count)d delivery queued again.", "%(count)d deliveries queued again.", count)
            % {"count": count},
            messages.SUCCESS,
        )


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "severity", "message", "occurrences", "open_state", "created_at", "resolved_at")
    list_filter = ("kind", "severity", ("open_key", admin.EmptyFieldListFilter))
    search_fields = ("message", "dedup_key")
    actions = ["resolve"]

    @admin.display(description=_("open"), boolean=True)
    def open_state(self, obj):
        return obj.is_open

    @admin.action(description=_("Mark the selected alerts resolved"))
    def resolve(self, request, queryset):
        count = 0
        for key in queryset.exclude(open_key=None).values_list("dedup_key", flat=True):
            count += alert_resolve(dedup_key=key)
        self.message_user(
            request,
            ngettext("%(count)d alert resolved.", "%(count)d alerts resolved.", count) % {"count": count},
            messages.SUCCESS,
        )


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    """A stored response replays a created resource (an order with its recipient's name, phone
    and address): only staff who may see personal data see it."""

    list_display = ("scope", "key", "response_status", "created_at", "expires_at")
    search_fields = ("key",)
    readonly_fields = ("response_body_hidden",)

    def get_fields(self, request, obj=None):
        body = "response_body" if may_see_personal_data(request) else "response_body_hidden"
        return ("scope", "key", "fingerprint", "response_status", body, "created_at", "expires_at")

    @admin.display(description=_("response body"))
    def response_body_hidden(self, obj):
        return _("Hidden: it may hold personal data, which you do not have the permission to see.")
