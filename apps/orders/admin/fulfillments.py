"""The fulfillment (parcel) admin: lines, status, resend to the WMS and mark shipped."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from apps.core.admin_actions import action_form, admin_actor, run_each
from apps.core.exceptions import ApplicationError
from apps.orders.admin.forms import ShipForm
from apps.orders.models import Fulfillment, FulfillmentLine
from apps.orders.services import fulfillment_mark_shipped, fulfillment_submit_to_wms
from apps.orders.wms import WmsError


class FulfillmentLineInline(admin.TabularInline):
    model = FulfillmentLine
    extra = 0
    can_delete = False
    fields = ("order_no", "sku", "quantity")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order_line__order", "sku")

    @admin.display(description=_("order"))
    def order_no(self, obj: FulfillmentLine) -> str:
        return obj.order_line.order.order_no

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Fulfillment)
class FulfillmentAdmin(admin.ModelAdmin):
    list_display = (
        "fulfillment_no",
        "warehouse",
        "kind",
        "status",
        "carrier",
        "tracking_no",
        "created_at",
        "sent_to_wms_at",
        "shipped_at",
        "merged_into",
    )
    list_filter = ("status", "kind", "warehouse")
    search_fields = ("=fulfillment_no", "=tracking_no", "=source_reference")
    list_select_related = ("warehouse", "merged_into")
    show_full_result_count = False
    inlines = [FulfillmentLineInline]
    readonly_fields = (
        "fulfillment_no",
        "warehouse",
        "kind",
        "source_reference",
        "status",
        "carrier",
        "tracking_no",
        "wms_reference",
        "created_at",
        "sent_to_wms_at",
        "shipped_at",
        "merged_into",
    )
    fields = readonly_fields
    actions = ["ship_fulfillments", "send_to_wms"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Ship selected fulfillments (no WMS)"), permissions=["change"])
    def ship_fulfillments(self, request, queryset):
        form, response = action_form(self, request, queryset, ShipForm, _("Ship fulfillments"))
        if response:
            return response
        run_each(
            self,
            request,
            queryset,
            lambda f: fulfillment_mark_shipped(
                fulfillment_no=f.fulfillment_no,
                carrier=form.cleaned_data["carrier"],
                tracking_no=form.cleaned_data["tracking_no"],
                actor=admin_actor(request),
            ),
            _("%(count)d fulfillment(s) shipped."),
        )
        return None

    @admin.action(description=_("Send selected fulfillments to the WMS now"), permissions=["change"])
    def send_to_wms(self, request, queryset):
        def send(fulfillment: Fulfillment) -> None:
            try:
                result = fulfillment_submit_to_wms(
                    fulfillment_no=fulfillment.fulfillment_no, actor=admin_actor(request)
                )
            except WmsError as exc:
                raise ApplicationError("wms_error", str(exc)) from exc
            if result is None:
                raise ApplicationError("no_wms", _("No WMS is configured; ship it from here instead."))

        run_each(self, request, queryset, send, _("%(count)d fulfillment(s) sent to the WMS."))
