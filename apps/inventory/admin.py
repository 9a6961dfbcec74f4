"""The inventory console: warehouses, SKUs, stock (with stocktake, receipt and transfer
actions that call the services), and the read-only ledger, reservations and transfers."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import ExpressionWrapper, F, IntegerField
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core.admin_actions import action_form, admin_actor, run_each
from apps.core.exceptions import ApplicationError
from apps.inventory.forms import (
    SkuReceiveForm,
    StockAdjustForm,
    StockReceiveForm,
    StockReceiveNewForm,
    StockTransferForm,
)
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


RECEIVE_PERMISSION = "inventory.change_stock"


class FormActionMixin:
    """Admin actions that ask for input on the shared form page before calling a service."""

    def action_label(self, obj) -> str:
        return str(obj)

    def _form_action(self, request, queryset, form_class, title, apply):
        """Show ``form_class`` for the selected rows; on submit call ``apply`` per row."""
        form, response = action_form(self, request, queryset, form_class, title)
        if response is not None:
            return response
        actor = admin_actor(request)
        run_each(
            self,
            request,
            queryset,
            lambda obj: apply(obj, form.cleaned_data, actor),
            self.done_message,
            label=self.action_label,
        )
        return None


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
class SkuAdmin(FormActionMixin, admin.ModelAdmin):
    list_display = ("code", "name", "barcode", "price", "weight_grams", "is_active", "is_hot")
    list_filter = ("is_active", "is_hot")
    search_fields = ("code", "barcode", "name")
    readonly_fields = ("gate_count",)
    actions = ["receive_goods"]
    done_message = _("%(count)d SKUs received.")

    def action_label(self, obj) -> str:
        return obj.code

    def has_receive_permission(self, request) -> bool:
        return request.user.has_perm(RECEIVE_PERMISSION)

    @admin.action(description=_("Receive goods into a warehouse"), permissions=["receive"])
    def receive_goods(self, request, queryset):
        """Goods receipt of the selected SKUs, also the first one: the stock row is created."""

        def apply(sku, data, operator):
            stock_receive(
                sku_id=sku.pk,
                warehouse_id=data["warehouse"].pk,
                quantity=data["quantity"],
                reference=data["reference"],
                operator=operator,
                note=data["note"],
            )

        return self._form_action(request, queryset, SkuReceiveForm, _("Receive goods"), apply)

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
class StockAdmin(FormActionMixin, admin.ModelAdmin):
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
    change_list_template = "admin/inventory/stock/change_list.html"
    done_message = _("%(count)d stock rows updated.")

    def has_add_permission(self, request):
        return False

    def action_label(self, obj) -> str:
        return f"{obj.sku.code}@{obj.warehouse.code}"

    def get_urls(self):
        view = self.admin_site.admin_view(self.receive_view)
        return [path("receive/", view, name="inventory_stock_receive"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        if request.user.has_perm(RECEIVE_PERMISSION):
            extra_context = {**(extra_context or {}), "receive_url": reverse("admin:inventory_stock_receive")}
        return super().changelist_view(request, extra_context)

    def receive_view(self, request):
        """Receive goods of any SKU into any active warehouse, also where no stock row exists yet."""
        if not request.user.has_perm(RECEIVE_PERMISSION):
            raise PermissionDenied
        form = StockReceiveNewForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                stock = stock_receive(
                    sku_id=data["sku"].pk,
                    warehouse_id=data["warehouse"].pk,
                    quantity=data["quantity"],
                    reference=data["reference"],
                    operator=admin_actor(request),
                    note=data["note"],
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(
                    request,
                    gettext("%(quantity)d units of %(sku)s received into %(warehouse)s; on hand now %(on_hand)d.")
                    % {
                        "quantity": data["quantity"],
                        "sku": data["sku"].code,
                        "warehouse": data["warehouse"].code,
                        "on_hand": stock.on_hand,
                    },
                    messages.SUCCESS,
                )
                return redirect("admin:inventory_stock_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Receive goods"),
            "intro": gettext("Goods receipt of a SKU into a warehouse, also the first stock of either."),
            "form": form,
            "objects": [],
        }
        return TemplateResponse(request, "admin/oms/action_form.html", context)

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
