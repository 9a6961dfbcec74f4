"""The order admin: the customer-service console's order list and detail, with its timeline.

Everything is read-only here; every change is an action (or a small form) that calls the
same services as the API and the jobs, and shows a refused change as an error message.
Recipients' phones, names and addresses, buyer ids, hold reasons and timeline remarks are
masked unless the user may see personal data (``apps.core.personal_data``).
"""

from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from apps.core.admin_actions import action_form, admin_actor, run_each
from apps.core.exceptions import ApplicationError
from apps.core.personal_data import mask_address, mask_buyer_id, mask_name, mask_phone, may_see_personal_data
from apps.core.replicas import ReplicaReadsAdminMixin
from apps.inventory.models import Sku
from apps.orders.admin.forms import AddressForm, LineFormSet, ReasonForm, RemarkForm, ShipForm
from apps.orders.admin.personal_data import (
    PersonalDataAdminMixin,
    _personal_data_visible,
    scrubbed,
)
from apps.orders.error_codes import OrderErrorCode
from apps.orders.models import (
    FS,
    Fulfillment,
    FulfillmentLine,
    Order,
    OrderLine,
    OrderStatus,
    OrderStatusLog,
)
from apps.orders.search import SearchBackendAdminMixin
from apps.orders.services import (
    OrderLineInput,
    RecipientInput,
    fulfillment_mark_shipped,
    order_audit,
    order_cancel,
    order_change_lines,
    order_delivery_update,
    order_hold,
    order_release,
    order_update_address,
    order_update_remark,
)
from apps.orders.services.shortage import OUT_OF_STOCK, is_out_of_stock


def still_out_of_stock(order: Order) -> str | None:
    """The warning for an order a release left on hold because its stock is still short."""
    if not is_out_of_stock(order):
        return None
    skus = [
        str(item.get("sku_code") or item.get("sku_id"))
        for reason in order.hold_reasons
        if reason.get("code") == OUT_OF_STOCK
        for item in (reason.get("details") or {}).get("shortages", [])
    ]
    return _("%(order_no)s stays on hold: still out of stock for %(skus)s.") % {
        "order_no": order.order_no,
        "skus": ", ".join(skus),
    }


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = ("sku_code", "name", "quantity", "unit_price", "discount_amount", "line_total", "platform_sku_id")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OrderStatusLogInline(admin.TabularInline):
    model = OrderStatusLog
    verbose_name_plural = _("timeline")
    extra = 0
    can_delete = False
    fields = ("created_at", "from_status", "to_status", "operator", "remark_display")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order")

    @admin.display(description=_("remark"))
    def remark_display(self, obj: OrderStatusLog) -> str:
        return scrubbed(obj.remark, obj.order)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# Orders no after-sale can be opened for any more.
AFTERSALE_CLOSED_STATUSES = {OrderStatus.CANCELLED, OrderStatus.PAYMENT_TIMEOUT, OrderStatus.REFUNDED}


@admin.register(Order)
class OrderAdmin(ReplicaReadsAdminMixin, PersonalDataAdminMixin, SearchBackendAdminMixin, admin.ModelAdmin):
    list_display = (
        "order_no",
        "shop",
        "status",
        "payable_amount",
        "paid_amount",
        "recipient",
        "created_at",
    )
    list_filter = ("status", "shop", "platform", "created_at")
    search_fields = ("=order_no", "=platform_order_id", "=buyer_id", "=recipient_phone")
    search_help_text = _("Order number, platform order id, buyer id, phone, SKU code or product name.")
    list_select_related = ("shop",)
    show_full_result_count = False
    inlines = [OrderLineInline, OrderStatusLogInline]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "order_no",
                    "shop",
                    "platform",
                    "platform_order_id",
                    "buyer_id_display",
                    "status",
                    "hold_list",
                )
            },
        ),
        (
            _("Money"),
            {
                "fields": (
                    "total_amount",
                    "discount_amount",
                    "shipping_fee",
                    "payable_amount",
                    "paid_amount",
                    "refunded_amount",
                    "payment_method",
                    "paid_at",
                    "payment_deadline",
                )
            },
        ),
        (_("Recipient"), {"fields": ("recipient", "recipient_phone_display", "full_address", "edit_address_link")}),
        (_("Messages"), {"fields": ("buyer_message", "seller_remark", "edit_remark_link", "cancel_reason")}),
        (_("Fulfillments"), {"fields": ("fulfillment_table",)}),
        (
            _("Times"),
            {"fields": ("created_at", "audited_at", "shipped_at", "delivered_at", "completed_at", "closed_at")},
        ),
    )
    actions = [
        "audit_orders",
        "pass_audit",
        "release_for_audit",
        "hold_orders",
        "cancel_orders",
        "ship_orders",
        "deliver_orders",
    ]

    def get_readonly_fields(self, request, obj=None):
        return [field for fieldset in self.fieldsets for field in fieldset[1]["fields"]]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_audit_permission(self, request) -> bool:
        return request.user.has_perm("orders.audit_order")

    def has_ship_permission(self, request) -> bool:
        return request.user.has_perm("orders.change_fulfillment")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("shop")

    # --- display -------------------------------------------------------------------------

    @admin.display(description=_("buyer"))
    def buyer_id_display(self, obj: Order) -> str:
        return obj.buyer_id if self._personal(obj) else mask_buyer_id(obj.buyer_id)

    @admin.display(description=_("recipient"))
    def recipient(self, obj: Order) -> str:
        if self._personal(obj):
            return f"{obj.recipient_name} {obj.recipient_phone}"
        return f"{mask_name(obj.recipient_name)} {mask_phone(obj.recipient_phone)}"

    @admin.display(description=_("phone"))
    def recipient_phone_display(self, obj: Order) -> str:
        return obj.recipient_phone if self._personal(obj) else mask_phone(obj.recipient_phone)

    @admin.display(description=_("address"))
    def full_address(self, obj: Order) -> str:
        region = f"{obj.province} {obj.city} {obj.district}".strip()
        return f"{region} {obj.address if self._personal(obj) else mask_address(obj.address)}"

    @admin.display(description=_("hold reasons"))
    def hold_list(self, obj: Order) -> str:
        return (
            format_html_join(
                "",
                "<div><code>{}</code> {}</div>",
                ((r.get("code", ""), scrubbed(r.get("message", ""), obj)) for r in obj.hold_reasons),
            )
            or "-"
        )

    @admin.display(description=_("edit"))
    def edit_address_link(self, obj: Order) -> str:
        url = reverse("admin:orders_order_address", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Edit recipient and address"))

    @admin.display(description=_("edit"))
    def edit_remark_link(self, obj: Order) -> str:
        url = reverse("admin:orders_order_remark", args=[obj.pk])
        links = format_html('<a class="button" href="{}">{}</a>', url, _("Edit seller remark"))
        if obj.status == OrderStatus.PENDING_PAYMENT:
            url = reverse("admin:orders_order_lines", args=[obj.pk])
            links += format_html(' <a class="button" href="{}">{}</a>', url, _("Change lines"))
        if obj.status not in AFTERSALE_CLOSED_STATUSES:
            # The after-sales admin's two-step form, with this order chosen.
            url = f"{reverse('admin:aftersales_aftersale_add')}?{urlencode({'order_no': obj.order_no})}"
            links += format_html(' <a class="button" href="{}">{}</a>', url, _("Open an after-sale"))
        return links

    @admin.display(description=_("fulfillments"))
    def fulfillment_table(self, obj: Order) -> str:
        lines = (
            FulfillmentLine.objects.filter(order_line__order=obj)
            .select_related("fulfillment__warehouse", "sku")
            .order_by("fulfillment_id", "id")
        )
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:orders_fulfillment_change", args=[line.fulfillment_id]),
                    line.fulfillment.fulfillment_no,
                    line.fulfillment.warehouse.code,
                    line.fulfillment.get_kind_display(),
                    line.fulfillment.get_status_display(),
                    line.fulfillment.carrier,
                    line.fulfillment.tracking_no,
                    line.sku.code,
                    line.quantity,
                )
                for line in lines
            ),
        )
        if not rows:
            return "-"
        header = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            _("fulfillment"),
            _("warehouse"),
            _("kind"),
            _("status"),
            _("tracking"),
            _("SKU"),
            _("quantity"),
        )
        return format_html("<table>{}{}</table>", header, rows)

    def _personal(self, obj: Order) -> bool:
        return _personal_data_visible.get()

    # --- actions -------------------------------------------------------------------------

    @admin.action(description=_("Audit selected paid orders"), permissions=["audit"])
    def audit_orders(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            lambda o: order_audit(order_no=o.order_no, actor=admin_actor(request)),
            _("%(count)d order(s) audited."),
        )

    @admin.action(description=_("Pass audit (release held orders without re-audit)"), permissions=["audit"])
    def pass_audit(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            lambda o: order_release(order_no=o.order_no, actor=admin_actor(request), force=True),
            _("%(count)d order(s) passed and allocated."),
            warning=still_out_of_stock,
        )

    @admin.action(description=_("Release held orders for a new audit"), permissions=["audit"])
    def release_for_audit(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            lambda o: order_release(order_no=o.order_no, actor=admin_actor(request)),
            _("%(count)d order(s) released and audited again."),
            warning=still_out_of_stock,
        )

    @admin.action(description=_("Hold selected paid orders"), permissions=["audit"])
    def hold_orders(self, request, queryset):
        form, response = action_form(self, request, queryset, ReasonForm, _("Hold orders"))
        if response:
            return response
        reason = form.cleaned_data["reason"]
        run_each(
            self,
            request,
            queryset,
            lambda o: order_hold(order_no=o.order_no, actor=admin_actor(request), reason=reason),
            _("%(count)d order(s) held."),
        )
        return None

    @admin.action(description=_("Cancel selected orders (with a reason)"), permissions=["change"])
    def cancel_orders(self, request, queryset):
        form, response = action_form(self, request, queryset, ReasonForm, _("Cancel orders"))
        if response:
            return response
        reason = form.cleaned_data["reason"]
        run_each(
            self,
            request,
            queryset,
            lambda o: order_cancel(order_no=o.order_no, actor=admin_actor(request), reason=reason),
            _("%(count)d order(s) cancelled."),
        )
        return None

    @admin.action(description=_("Ship selected orders (no WMS)"), permissions=["ship"])
    def ship_orders(self, request, queryset):
        form, response = action_form(self, request, queryset, ShipForm, _("Ship orders"))
        if response:
            return response

        def ship(order: Order) -> None:
            open_fulfillments = list(
                Fulfillment.objects.filter(
                    lines__order_line__order=order, status__in=[FS.PENDING, FS.SENT_TO_WMS]
                ).distinct()
            )
            if len(open_fulfillments) != 1:
                raise ApplicationError(
                    "ship_from_fulfillments",
                    _("It has %(count)d open parcels; ship each from the fulfillment list.")
                    % {"count": len(open_fulfillments)},
                )
            fulfillment_mark_shipped(
                fulfillment_no=open_fulfillments[0].fulfillment_no,
                carrier=form.cleaned_data["carrier"],
                tracking_no=form.cleaned_data["tracking_no"],
                actor=admin_actor(request),
            )

        run_each(self, request, queryset, ship, _("%(count)d order(s) shipped."))
        return None

    @admin.action(description=_("Mark selected orders delivered"), permissions=["ship"])
    def deliver_orders(self, request, queryset):
        run_each(
            self,
            request,
            queryset,
            lambda o: order_delivery_update(
                order_no=o.order_no, status=OrderStatus.DELIVERED, actor=admin_actor(request)
            ),
            _("%(count)d order(s) delivered."),
        )

    # --- the address form ------------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "<int:object_id>/address/",
                self.admin_site.admin_view(self.address_view),
                name="orders_order_address",
            ),
            path(
                "<int:object_id>/remark/",
                self.admin_site.admin_view(self.remark_view),
                name="orders_order_remark",
            ),
            path(
                "<int:object_id>/lines/",
                self.admin_site.admin_view(self.lines_view),
                name="orders_order_lines",
            ),
            *super().get_urls(),
        ]

    def address_view(self, request, object_id: int):
        order = self.get_object(request, str(object_id))
        if order is None or not self.has_change_permission(request, order) or not may_see_personal_data(request):
            raise PermissionDenied
        initial = {
            "name": order.recipient_name,
            "phone": order.recipient_phone,
            "province": order.province,
            "city": order.city,
            "district": order.district,
            "address": order.address,
        }
        form = AddressForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                order_update_address(
                    order_no=order.order_no, recipient=RecipientInput(**form.cleaned_data), actor=admin_actor(request)
                )
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, _("Address updated."), messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Edit recipient of %(order_no)s") % {"order_no": order.order_no},
            "form": form,
            "objects": [order],
            "opts": self.model._meta,
            "original": order,
        }
        return TemplateResponse(request, "admin/oms/action_form.html", context)

    def _edit_page(self, request, order: Order, *, title, form, apply):
        """Show ``form`` for ``order``; on a valid POST run ``apply`` (a service call)."""
        if request.method == "POST" and form.is_valid():
            try:
                apply()
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, _("Order %(order_no)s updated.") % {"order_no": order.order_no})
                return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "form": form,
            "objects": [order],
            "opts": self.model._meta,
            "original": order,
        }
        return TemplateResponse(request, "admin/oms/action_form.html", context)

    def _editable_order(self, request, object_id: int) -> Order:
        order = self.get_object(request, str(object_id))
        if order is None or not self.has_change_permission(request, order):
            raise PermissionDenied
        return order

    def remark_view(self, request, object_id: int):
        order = self._editable_order(request, object_id)
        form = RemarkForm(request.POST or None, initial={"remark": order.seller_remark})
        return self._edit_page(
            request,
            order,
            title=_("Seller remark of %(order_no)s") % {"order_no": order.order_no},
            form=form,
            apply=lambda: order_update_remark(
                order_no=order.order_no, remark=form.cleaned_data["remark"], actor=admin_actor(request)
            ),
        )

    def lines_view(self, request, object_id: int):
        """Change an unpaid order's lines: re-priced and re-reserved by ``order_change_lines``."""
        order = self._editable_order(request, object_id)
        initial = [
            {
                "sku_code": line.sku_code,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "discount_amount": line.discount_amount,
            }
            for line in order.lines.all()
        ]
        formset = LineFormSet(request.POST or None, initial=initial)

        def apply():
            rows = [row for row in formset.cleaned_data if row and not row.get("DELETE")]
            skus = dict(Sku.objects.filter(code__in=[row["sku_code"] for row in rows]).values_list("code", "pk"))
            missing = sorted({row["sku_code"] for row in rows} - skus.keys())
            if missing:
                raise ApplicationError(
                    OrderErrorCode.VALIDATION_ERROR,
                    _("Unknown SKU code(s): %(codes)s.") % {"codes": ", ".join(missing)},
                )
            order_change_lines(
                order_no=order.order_no,
                lines=[
                    OrderLineInput(
                        sku_id=skus[row["sku_code"]],
                        quantity=row["quantity"],
                        unit_price=row["unit_price"],
                        discount_amount=row.get("discount_amount") or Decimal(0),
                    )
                    for row in rows
                ],
                actor=admin_actor(request),
            )

        return self._edit_page(
            request,
            order,
            title=_("Lines of %(order_no)s") % {"order_no": order.order_no},
            form=formset,
            apply=apply,
        )
