from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.shops.models import Shop


class SkuMapping(models.Model):
    """A platform SKU (or its outer id, 商家编码) sold by a shop, mapped to our SKU.

    ``stock_dirty`` is set by the ``stock.changed`` consumer and cleared by the stock push,
    so many stock movements become one push per SKU.
    """

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="sku_mappings", verbose_name=_("shop"))
    platform_sku_id = models.CharField(_("platform SKU id"), max_length=64)
    outer_id = models.CharField(_("outer id"), max_length=64, blank=True, help_text=_("The merchant code (商家编码)."))
    platform_item_id = models.CharField(
        _("platform item id"), max_length=64, blank=True, help_text=_("Product / item id, needed by some stock APIs.")
    )
    sku = models.ForeignKey("inventory.Sku", on_delete=models.PROTECT, related_name="+", verbose_name=_("SKU"))
    stock_dirty = models.BooleanField(_("stock push due"), default=False, editable=False)
    last_pushed_quantity = models.IntegerField(_("last pushed quantity"), null=True, blank=True, editable=False)
    last_pushed_at = models.DateTimeField(_("last pushed at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("SKU mapping")
        verbose_name_plural = _("SKU mappings")
        ordering = ["shop", "platform_sku_id"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "platform_sku_id"], name="sku_mapping_unique_per_shop"),
        ]
        indexes = [models.Index(fields=["shop", "outer_id"], name="sku_mapping_shop_outer")]

    def __str__(self) -> str:
        return f"{self.shop_id}:{self.platform_sku_id} -> {self.sku_id}"


class RawOrder(models.Model):
    """A platform order exactly as the platform sent it (a "temporary order", 临时订单).

    One row per (shop, platform order id). A payload with a new hash replaces the stored one
    and goes back to ``pending`` so the conversion applies it; the same hash changes nothing.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        CONVERTED = "converted", _("Converted")
        FAILED = "failed", _("Failed")
        IGNORED = "ignored", _("Ignored")

    class Source(models.TextChoices):
        PULL = "pull", _("Pull")
        PUSH = "push", _("Push")

    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="raw_orders", verbose_name=_("shop"))
    platform_order_id = models.CharField(_("platform order id"), max_length=64)
    platform_status = models.CharField(_("platform status"), max_length=32, blank=True)
    platform_updated_at = models.DateTimeField(_("updated on the platform"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=8, choices=Source.choices)
    payload = models.JSONField(_("payload"))
    payload_hash = models.CharField(_("payload hash"), max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    error_code = models.CharField(_("error code"), max_length=32, blank=True)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    order = models.ForeignKey(
        "orders.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("order"),
    )
    aftersale_refund_ids = models.JSONField(
        _("refund requests handed to after-sales"), default=list, blank=True, editable=False
    )
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("raw platform order")
        verbose_name_plural = _("raw platform orders")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "platform_order_id"], name="raw_order_unique_per_shop"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="raw_order_status_due"),
            models.Index(fields=["shop", "status", "error_code"], name="raw_order_shop_status_error"),
        ]

    def __str__(self) -> str:
        return f"{self.shop_id}:{self.platform_order_id}"


class PullRun(models.Model):
    """One incremental pull of a shop's orders over an updated-time window."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="pull_runs", verbose_name=_("shop"))
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    window_start = models.DateTimeField(_("window start"))
    window_end = models.DateTimeField(_("window end"))
    pages = models.PositiveIntegerField(_("pages"), default=0)
    orders_pulled = models.PositiveIntegerField(_("orders pulled"), default=0)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RUNNING)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("pull run")
        verbose_name_plural = _("pull runs")
        ordering = ["-id"]
        indexes = [models.Index(fields=["shop", "started_at"], name="pull_run_shop_started")]

    def __str__(self) -> str:
        return f"{self.shop_id} {self.started_at:%Y-%m-%d %H:%M}"


class StockPush(models.Model):
    """A sellable quantity sent to a platform for one mapped SKU."""

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="stock_pushes", verbose_name=_("shop"))
    mapping = models.ForeignKey(
        SkuMapping, on_delete=models.CASCADE, related_name="stock_pushes", verbose_name=_("SKU mapping")
    )
    quantity = models.IntegerField(_("quantity"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("stock push")
        verbose_name_plural = _("stock pushes")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.mapping_id}={self.quantity}"


class ShipmentWriteBack(models.Model):
    """Carrier and tracking number of one shipped fulfillment, sent to one order's platform.

    One row per (fulfillment, order); retried with backoff until the platform accepts it.
    A worker claims the row (``claimed_until``, ``claim_token``) before it calls the platform
    outside any transaction; nobody else calls for it until the claim is released or expires.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    shop = models.ForeignKey(Shop, on_delete=models.PROTECT, related_name="write_backs", verbose_name=_("shop"))
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="+", verbose_name=_("order"))
    fulfillment_no = models.CharField(_("fulfillment number"), max_length=24)
    platform_order_id = models.CharField(_("platform order id"), max_length=64)
    carrier = models.CharField(_("carrier"), max_length=32)
    tracking_no = models.CharField(_("tracking number"), max_length=64)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    claimed_until = models.DateTimeField(_("being sent until"), null=True, blank=True, editable=False)
    claim_token = models.CharField(_("claim"), max_length=32, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    succeeded_at = models.DateTimeField(_("succeeded at"), null=True, blank=True)

    class Meta:
        verbose_name = _("shipment write-back")
        verbose_name_plural = _("shipment write-backs")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["fulfillment_no", "order"], name="write_back_unique_per_order"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="write_back_status_due")]

    def __str__(self) -> str:
        return f"{self.fulfillment_no} -> {self.platform_order_id}"
