from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from apps.core.personal_data import PERSONAL_DATA_CODENAME, mask_phone


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", _("Pending payment")
    PAID = "paid", _("Paid")
    ON_HOLD = "on_hold", _("On hold")
    PENDING_SHIPMENT = "pending_shipment", _("Pending shipment")
    SHIPPED = "shipped", _("Shipped")
    DELIVERING = "delivering", _("Delivering")
    DELIVERY_FAILED = "delivery_failed", _("Delivery failed")
    DELIVERED = "delivered", _("Delivered")
    REFUNDING = "refunding", _("Refunding")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    PAYMENT_TIMEOUT = "payment_timeout", _("Payment timed out")
    REFUNDED = "refunded", _("Refunded")


S = OrderStatus
TERMINAL_STATUSES = frozenset({S.COMPLETED, S.CANCELLED, S.PAYMENT_TIMEOUT, S.REFUNDED})
# The status groups every app asks (one definition each; none keeps its own list):
# before shipment, paid or not (the address may change, a cancellation stops it)...
NOT_SHIPPED_STATUSES = frozenset({S.PENDING_PAYMENT, S.PAID, S.ON_HOLD, S.PENDING_SHIPMENT})
# ...of those, the paid ones (money to give back when it stops)...
PAID_NOT_SHIPPED_STATUSES = NOT_SHIPPED_STATUSES - {S.PENDING_PAYMENT}
# ...and the goods have left (returns and exchanges are possible).
SHIPPED_STATUSES = frozenset({S.SHIPPED, S.DELIVERING, S.DELIVERY_FAILED, S.DELIVERED, S.COMPLETED})


def refunds_cover_payment(*, paid: Decimal, refunded: Decimal) -> bool:
    """Refunded in full: money was paid and the refunds (made, or asked for) reach all of it."""
    return paid > 0 and refunded >= paid


class Order(FSMModelMixin, models.Model):
    """A customer order. ``status`` changes only through the transitions below, each run by
    a service in ``services`` under a row lock, with a status log row and an outbox event.

    ``version`` grows by one on every committed change; the search index uses it as the
    external document version so an older event never overwrites a newer document.
    """

    order_no = models.CharField(_("order number"), max_length=20, unique=True)
    shop = models.ForeignKey(
        "shops.Shop", on_delete=models.PROTECT, null=True, blank=True, related_name="orders", verbose_name=_("shop")
    )
    platform = models.CharField(_("platform"), max_length=16, blank=True, db_index=True)
    # NULL for our own API orders, so the per-shop unique constraint ignores them.
    platform_order_id = models.CharField(_("platform order id"), max_length=64, null=True, blank=True)  # noqa: DJ001
    buyer_id = models.CharField(_("buyer"), max_length=64, db_index=True)
    status = FSMField(
        _("status"), max_length=20, choices=OrderStatus.choices, default=S.PENDING_PAYMENT, protected=True
    )

    total_amount = models.DecimalField(_("goods total"), max_digits=12, decimal_places=2, default=0)
    discount_amount = models.DecimalField(_("discount"), max_digits=12, decimal_places=2, default=0)
    shipping_fee = models.DecimalField(_("shipping fee"), max_digits=12, decimal_places=2, default=0)
    payable_amount = models.DecimalField(_("payable"), max_digits=12, decimal_places=2, default=0)
    paid_amount = models.DecimalField(_("paid"), max_digits=12, decimal_places=2, default=0)
    refunded_amount = models.DecimalField(_("refunded"), max_digits=12, decimal_places=2, default=0)

    payment_method = models.CharField(_("payment method"), max_length=16, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    payment_deadline = models.DateTimeField(_("payment deadline"), null=True, blank=True)

    recipient_name = models.CharField(_("recipient"), max_length=64)
    recipient_phone = models.CharField(_("phone"), max_length=32, db_index=True)
    province = models.CharField(_("province"), max_length=32)
    city = models.CharField(_("city"), max_length=32)
    district = models.CharField(_("district"), max_length=32, blank=True)
    address = models.CharField(_("address"), max_length=255)

    buyer_message = models.CharField(_("buyer message"), max_length=500, blank=True)
    seller_remark = models.CharField(_("seller remark"), max_length=500, blank=True)
    hold_reasons = models.JSONField(_("hold reasons"), default=list, blank=True)
    cancel_reason = models.CharField(_("cancel reason"), max_length=255, blank=True)

    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    audited_at = models.DateTimeField(_("audited at"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    version = models.PositiveIntegerField(_("version"), default=0)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        constraints = [
            models.UniqueConstraint(fields=["shop", "platform_order_id"], name="order_platform_id_unique_per_shop"),
        ]
        indexes = [
            models.Index(fields=["status", "payment_deadline"], name="order_status_deadline"),
            models.Index(fields=["status", "delivered_at"], name="order_status_delivered"),
            models.Index(fields=["shop", "status", "created_at"], name="order_shop_status_created"),
            models.Index(fields=["buyer_id", "created_at"], name="order_buyer_created"),
            # The report job reads the orders changed since its last run.
            models.Index(fields=["updated_at"], name="order_updated"),
            # A shop's orders newest first (the API list pages by id), and the report days by
            # payment and shipment: each on its index at 10M orders (explain_hot_queries).
            models.Index(fields=["shop", "id"], name="order_shop_id"),
            models.Index(fields=["paid_at"], name="order_paid"),
            models.Index(fields=["shipped_at"], name="order_shipped"),
        ]
        permissions = [
            (PERSONAL_DATA_CODENAME, _("Can see recipients' phone numbers and addresses")),
            ("audit_order", _("Can audit, hold and release orders")),
        ]

    def __str__(self) -> str:
        return self.order_no

    @property
    def refunded_in_full(self) -> bool:
        return refunds_cover_payment(paid=self.paid_amount, refunded=self.refunded_amount)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    # --- transitions: they only change the instance; services save, log and publish ---

    @transition(field=status, source=S.PENDING_PAYMENT, target=S.PAID)
    def pay(self) -> None:
        pass

    @transition(field=status, source=S.PENDING_PAYMENT, target=S.PAYMENT_TIMEOUT)
    def expire(self) -> None:
        pass

    @transition(field=status, source=[S.PENDING_PAYMENT, S.PENDING_SHIPMENT], target=S.CANCELLED)
    def cancel(self) -> None:
        pass

    @transition(field=status, source=S.PAID, target=S.ON_HOLD)
    def hold(self) -> None:
        pass

    @transition(field=status, source=S.ON_HOLD, target=S.PAID)
    def release(self) -> None:
        pass

    @transition(field=status, source=S.PAID, target=S.PENDING_SHIPMENT)
    def allocate(self) -> None:
        pass

    @transition(field=status, source=S.PENDING_SHIPMENT, target=S.SHIPPED)
    def ship(self) -> None:
        pass

    @transition(field=status, source=[S.SHIPPED, S.DELIVERY_FAILED], target=S.DELIVERING)
    def start_delivery(self) -> None:
        pass

    @transition(field=status, source=S.DELIVERING, target=S.DELIVERED)
    def deliver(self) -> None:
        pass

    @transition(field=status, source=S.DELIVERING, target=S.DELIVERY_FAILED)
    def fail_delivery(self) -> None:
        pass

    @transition(field=status, source=S.DELIVERED, target=S.COMPLETED)
    def complete(self) -> None:
        pass

    @transition(field=status, source=[S.PAID, S.ON_HOLD, S.DELIVERY_FAILED, S.DELIVERED], target=S.REFUNDING)
    def start_refund(self) -> None:
        pass

    @transition(field=status, source=S.REFUNDING, target=S.REFUNDED)
    def finish_refund(self) -> None:
        pass

    @transition(field=status, source=S.SHIPPED, target=S.REFUNDED)
    def intercept_in_transit(self) -> None:
        pass


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines", verbose_name=_("order"))
    sku = models.ForeignKey("inventory.Sku", on_delete=models.PROTECT, related_name="+", verbose_name=_("SKU"))
    sku_code = models.CharField(_("SKU code"), max_length=64, db_index=True)
    name = models.CharField(_("product name"), max_length=200)
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = models.DecimalField(_("unit price"), max_digits=12, decimal_places=2)
    discount_amount = models.DecimalField(_("discount"), max_digits=12, decimal_places=2, default=0)
    line_total = models.DecimalField(_("line total"), max_digits=12, decimal_places=2)
    platform_sku_id = models.CharField(_("platform SKU id"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.sku_code} x{self.quantity}"


class FulfillmentStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT_TO_WMS = "sent_to_wms", _("Sent to WMS")
    SHIPPED = "shipped", _("Shipped")
    CANCELLED = "cancelled", _("Cancelled")


FS = FulfillmentStatus


class Fulfillment(FSMModelMixin, models.Model):
    """One package from one warehouse (出库单). An order may have several (拆单) and one
    fulfillment may carry lines of several orders of the same buyer and address (合单)."""

    class Kind(models.TextChoices):
        NORMAL = "normal", _("Normal")
        EXCHANGE = "exchange", _("Exchange")
        REISSUE = "reissue", _("Reissue")

    fulfillment_no = models.CharField(_("fulfillment number"), max_length=24, unique=True)
    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.NORMAL)
    source_reference = models.CharField(
        _("source reference"), max_length=64, blank=True, help_text=_("After-sale number for exchanges and reissues.")
    )
    status = FSMField(_("status"), max_length=16, choices=FulfillmentStatus.choices, default=FS.PENDING, protected=True)
    carrier = models.CharField(_("carrier"), max_length=32, blank=True)
    tracking_no = models.CharField(_("tracking number"), max_length=64, blank=True, db_index=True)
    wms_reference = models.CharField(_("WMS reference"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    sent_to_wms_at = models.DateTimeField(_("sent to WMS at"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="merged_from",
        verbose_name=_("merged into"),
    )

    class Meta:
        verbose_name = _("fulfillment")
        verbose_name_plural = _("fulfillments")
        indexes = [models.Index(fields=["status", "warehouse"], name="fulfillment_status_wh")]

    def __str__(self) -> str:
        return self.fulfillment_no

    @transition(field=status, source=FS.PENDING, target=FS.SENT_TO_WMS)
    def send_to_wms(self) -> None:
        pass

    @transition(field=status, source=[FS.PENDING, FS.SENT_TO_WMS], target=FS.SHIPPED)
    def ship(self) -> None:
        pass

    @transition(field=status, source=[FS.PENDING, FS.SENT_TO_WMS], target=FS.CANCELLED)
    def cancel(self) -> None:
        pass


class FulfillmentLine(models.Model):
    fulfillment = models.ForeignKey(
        Fulfillment, on_delete=models.CASCADE, related_name="lines", verbose_name=_("fulfillment")
    )
    order_line = models.ForeignKey(
        OrderLine, on_delete=models.PROTECT, related_name="fulfillment_lines", verbose_name=_("order line")
    )
    sku = models.ForeignKey("inventory.Sku", on_delete=models.PROTECT, related_name="+", verbose_name=_("SKU"))
    quantity = models.PositiveIntegerField(_("quantity"))

    class Meta:
        verbose_name = _("fulfillment line")
        verbose_name_plural = _("fulfillment lines")

    def __str__(self) -> str:
        return f"{self.fulfillment_id}: {self.sku_id} x{self.quantity}"


class OrderStatusLog(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="status_logs", verbose_name=_("order"))
    from_status = models.CharField(_("from"), max_length=20, blank=True)
    to_status = models.CharField(_("to"), max_length=20)
    operator = models.CharField(_("operator"), max_length=64)
    remark = models.CharField(_("remark"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("order status log")
        verbose_name_plural = _("order status logs")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status} -> {self.to_status}"


class BlacklistedPhone(models.Model):
    """Phones whose orders the audit always holds for a person to look at."""

    phone = models.CharField(_("phone"), max_length=32, unique=True)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("blacklisted phone")
        verbose_name_plural = _("blacklisted phones")

    def __str__(self) -> str:
        """Masked: page titles, breadcrumbs, the admin log and delete pages show this to any staff."""
        return mask_phone(self.phone)


class OrderMoneyEvent(models.Model):
    """A payment or refund already applied to an order, keyed by the provider's reference.

    The unique constraint makes the payment and refund consumers idempotent: a redelivered
    ``payment.succeeded`` or ``refund.succeeded`` finds its row and changes nothing.
    """

    class Kind(models.TextChoices):
        PAYMENT = "payment", _("Payment")
        REFUND = "refund", _("Refund")

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="money_events", verbose_name=_("order"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    reference = models.CharField(_("reference"), max_length=64)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("order payment or refund")
        verbose_name_plural = _("order payments and refunds")
        constraints = [models.UniqueConstraint(fields=["kind", "reference"], name="order_money_event_unique")]

    def __str__(self) -> str:
        return f"{self.kind} {self.reference} {self.amount}"


class OrderReport(models.Model):
    """Daily or weekly order figures, built by ``apps.orders.reports.services.report_build``
    (beat job and ``manage.py build_reports``); a rebuild replaces the row.

    Periods are Asia/Shanghai calendar days and ISO weeks (Monday to Sunday). Cohorts:
    ``orders_count`` and ``by_status`` count orders *created* in the period; GMV (payable),
    paid, refunded (so far), average order value, per-shop money and top SKUs cover orders
    *paid* in the period; shipping times cover orders *shipped* in the period.
    """

    class Period(models.TextChoices):
        DAY = "day", _("Day")
        WEEK = "week", _("Week")

    period = models.CharField(_("period"), max_length=8, choices=Period.choices)
    start = models.DateField(_("first day"))
    end = models.DateField(_("last day"))
    orders_count = models.PositiveIntegerField(_("orders created"), default=0)
    paid_orders_count = models.PositiveIntegerField(_("orders paid"), default=0)
    gmv = models.DecimalField(_("GMV"), max_digits=16, decimal_places=2, default=0)
    paid_amount = models.DecimalField(_("paid"), max_digits=16, decimal_places=2, default=0)
    refunded_amount = models.DecimalField(_("refunded"), max_digits=16, decimal_places=2, default=0)
    average_order_value = models.DecimalField(_("average order value"), max_digits=14, decimal_places=2, default=0)
    shipped_count = models.PositiveIntegerField(_("orders shipped"), default=0)
    ship_seconds_avg = models.PositiveIntegerField(_("average payment-to-shipment (s)"), null=True, blank=True)
    ship_seconds_p50 = models.PositiveIntegerField(_("median payment-to-shipment (s)"), null=True, blank=True)
    ship_seconds_p90 = models.PositiveIntegerField(_("90th percentile payment-to-shipment (s)"), null=True, blank=True)
    by_shop = models.JSONField(_("by shop"), default=list, blank=True)
    by_platform = models.JSONField(_("by platform"), default=list, blank=True)
    by_status = models.JSONField(_("by status"), default=dict, blank=True)
    top_skus_by_quantity = models.JSONField(_("top SKUs by quantity"), default=list, blank=True)
    top_skus_by_amount = models.JSONField(_("top SKUs by amount"), default=list, blank=True)
    built_at = models.DateTimeField(_("built at"))
    built_by = models.CharField(_("built by"), max_length=64)

    class Meta:
        verbose_name = _("order report")
        verbose_name_plural = _("order reports")
        ordering = ["-start", "period"]
        constraints = [models.UniqueConstraint(fields=["period", "start"], name="order_report_period_start_unique")]

    def __str__(self) -> str:
        return f"{self.get_period_display()} {self.start}"


class ShopPrice(models.Model):
    """A shop's own price for a SKU: its storefront orders are priced at it instead of the
    SKU's list price (``Sku.price``)."""

    shop = models.ForeignKey("shops.Shop", on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"))
    sku = models.ForeignKey("inventory.Sku", on_delete=models.CASCADE, related_name="+", verbose_name=_("SKU"))
    price = models.DecimalField(_("price"), max_digits=12, decimal_places=2)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("shop price")
        verbose_name_plural = _("shop prices")
        constraints = [
            models.UniqueConstraint(fields=["shop", "sku"], name="shop_price_unique"),
            models.CheckConstraint(condition=models.Q(price__gte=0), name="shop_price_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.shop_id}/{self.sku_id} {self.price}"


class ShopDiscountPolicy(models.Model):
    """The most discount a shop's storefront may grant on one order (order and line discounts
    together): at most ``max_rate`` of the goods total and at most ``max_amount``. A shop
    without a policy grants none."""

    shop = models.OneToOneField(
        "shops.Shop", on_delete=models.CASCADE, related_name="+", verbose_name=_("shop"), primary_key=True
    )
    max_rate = models.DecimalField(
        _("maximum discount rate"),
        max_digits=5,
        decimal_places=4,
        default=0,
        help_text=_("A share of the goods total, e.g. 0.2000 for 20%."),
    )
    max_amount = models.DecimalField(_("maximum discount amount"), max_digits=12, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("shop discount policy")
        verbose_name_plural = _("shop discount policies")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_rate__gte=0, max_rate__lte=1), name="shop_discount_rate_range"
            ),
            models.CheckConstraint(condition=models.Q(max_amount__gte=0), name="shop_discount_amount_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.shop_id}: {self.max_rate:%} / {self.max_amount}"
