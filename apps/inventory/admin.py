"""The inventory console: warehouses, SKUs, stock (with stocktake, receipt and transfer
actions that call the services), and the read-only ledger, reservations and transfers."""

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import ExpressionWrapper, F, IntegerField
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from apps.core.admin_actions import admin_actor
from apps.core.exceptions import ApplicationError
from apps.inventory.forms import StockAdjustForm, StockReceiveForm, StockTransferForm
from apps.inventory.gate import gate_counter, gate_sync
from apps.inventory.models import Reservation, Sku, Stock, StockMovement, Transfer, Warehouse
from apps.inventory.services import (
    stock_adjust,
    stock_receive,
    stock_transfer_receive,
    stock_transfer_ship,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "kind",
        "province",
        "city",
        "region",
        "priority",
        "is_active",
        "accepts_online_orders",
    )
    list_filter = ("kind", "region", "is_active", "accepts_online_orders")
    search_fields = ("code", "name", "city")
    fields = ("code", "name", "kind", "province", "city", "region", "priority", "is_active", "accepts_online_orders")


@admin.register(Sku)
class SkuAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "barcode", "price", "weight_grams", "is_active", "is_hot")
    list_filter = ("is_active", "is_hot")
    search_fields = ("code", "barcode", "name")
    readonly_fields = ("gate_count",)

    @admin.display(description=_("flash-sale gate count"))
    def gate_count(self, obj):
        value = gate_counter(obj.pk) if obj.pk else None
        return "-" if value is None else value

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if "is_hot" in form.changed_data or "is_active" in form.changed_data:
            sku_id = obj.pk
            transaction.on_commit(lambda: gate_sync(sku_ids=[sku_id]))


class LowStockFilter(admin.SimpleListFilter):
    title = _("low stock")
    parameter_name = "low"

    def lookups(self, request, model_admin):
        return [("yes", _("At or below threshold")), ("alerted", _("Alert open")), ("out", _("Out of stock"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(on_hand__lte=F("reserved") + F("low_stock_threshold"))
        if self.value() == "alerted":
            return queryset.filter(low_stock_alerted=True)
        if self.value() == "out":
            return queryset.filter(on_hand__lte=F("reserved"))
        return queryset


@admin.register(Stock)
class StockAdmin(admin.ModelAdmin):
    list_display = (
        "sku",
        "warehouse",
        "on_hand",
        "reserved",
        "available_display",
        "low_stock_threshold",
        "low_stock_alerted",
        "updated_at",
    )
    list_select_related = ("sku", "warehouse")
    list_filter = (LowStockFilter, "warehouse__kind", "warehouse")
    search_fields = ("sku__code", "sku__name", "sku__barcode")
    fields = ("sku", "warehouse", "on_hand", "reserved", "low_stock_threshold", "low_stock_alerted", "updated_at")
    readonly_fields = ("sku", "warehouse", "on_hand", "reserved", "low_stock_alerted", "updated_at")
    actions = ["adjust_stock", "receive_stock", "transfer_stock"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(available_units=ExpressionWrapper(F("on_hand") - F("reserved"), output_field=IntegerField()))
        )

    @admin.display(description=_("available"), ordering="available_units")
    def available_display(self, obj):
        return obj.available

    def _form_action(self, request, queryset, form_class, title, apply):
        """Show ``form_class`` for the selected rows; on submit call ``apply`` per row."""
        if "apply" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                done = 0
                for stock in queryset.select_related("sku", "warehouse"):
                    try:
                        apply(stock, form.cleaned_data, admin_actor(request))
                        done += 1
                    except ApplicationError as exc:
                        self.message_user(
                            request, f"{stock.sku.code}@{stock.warehouse.code}: {exc.message}", messages.ERROR
                        )
                if done:
                    self.message_user(request, _("%(count)d stock rows updated.") % {"count": done}, messages.SUCCESS)
                return None
        else:
            form = form_class()
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "form": form,
            "objects": queryset.select_related("sku", "warehouse"),
            "action": request.POST.get("action", ""),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/oms/action_form.html", context)

    @admin.action(description=_("Stocktake: set or change on hand"), permissions=["change"])
    def adjust_stock(self, request, queryset):
        def apply(stock, data, operator):
            stock_adjust(
                sku_id=stock.sku_id,
                warehouse_id=stock.warehouse_id,
                counted=data["counted"],
                delta=data["delta"],
                reference=data["reference"],
                operator=operator,
                note=data["note"],
            )

        return self._form_action(request, queryset, StockAdjustForm, _("Stocktake"), apply)

    @admin.action(description=_("Receive goods"), permissions=["change"])
    def receive_stock(self, request, queryset):
        def apply(stock, data, operator):
            stock_receive(
                sku_id=stock.sku_id,
                warehouse_id=stock.warehouse_id,
                quantity=data["quantity"],
                reference=data["reference"],
                operator=operator,
                note=data["note"],
            )

        return self._form_action(request, queryset, StockReceiveForm, _("Receive goods"), apply)

    @admin.action(description=_("Transfer to another warehouse"), permissions=["change"])
    def transfer_stock(self, request, queryset):
        def apply(stock, data, operator):
            stock_transfer_ship(
                reference=f"{data['reference']}-{stock.pk}",
                sku_id=stock.sku_id,
                from_warehouse_id=stock.warehouse_id,
                to_warehouse_id=data["to_warehouse"].pk,
                quantity=data["quantity"],
                operator=operator,
                note=data["note"],
            )

        return self._form_action(request, queryset, StockTransferForm, _("Transfer"), apply)


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "sku_code",
        "warehouse_code",
        "reason",
        "delta_on_hand",
        "delta_reserved",
        "reference",
        "operator",
        "note",
    )
    list_select_related = ("stock__sku", "stock__warehouse")
    # A date filter, not date_hierarchy: the latter needs the database's time-zone tables.
    list_filter = ("reason", "created_at", "stock__warehouse")
    search_fields = ("reference", "stock__sku__code")

    @admin.display(description=_("SKU"), ordering="stock__sku__code")
    def sku_code(self, obj):
        return obj.stock.sku.code

    @admin.display(description=_("warehouse"), ordering="stock__warehouse__code")
    def warehouse_code(self, obj):
        return obj.stock.warehouse.code


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ("reference", "line_reference", "sku_code", "warehouse_code", "quantity", "status", "created_at")
    list_select_related = ("stock__sku", "stock__warehouse")
    list_filter = ("status", "stock__warehouse")
    search_fields = ("reference", "stock__sku__code")

    @admin.display(description=_("SKU"))
    def sku_code(self, obj):
        return obj.stock.sku.code

    @admin.display(description=_("warehouse"))
    def warehouse_code(self, obj):
        return obj.stock.warehouse.code


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = (
        "reference",
        "sku",
        "from_warehouse",
        "to_warehouse",
        "quantity",
        "status",
        "shipped_at",
        "received_at",
    )
    list_select_related = ("sku", "from_warehouse", "to_warehouse")
    list_filter = ("status", "to_warehouse", "from_warehouse")
    search_fields = ("reference", "sku__code")
    actions = ["receive"]

    def has_change_permission(self, request, obj=None):
        return obj is None and request.user.has_perm("inventory.change_transfer")

    @admin.action(description=_("Mark the selected transfers received"), permissions=["change"])
    def receive(self, request, queryset):
        done = 0
        for reference in queryset.filter(status=Transfer.Status.IN_TRANSIT).values_list("reference", flat=True):
            try:
                stock_transfer_receive(reference=reference, operator=admin_actor(request))
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{reference}: {exc.message}", messages.ERROR)
        self.message_user(request, _("%(count)d transfers received.") % {"count": done}, messages.SUCCESS)
