from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.inventory.regions import region_for


class Warehouse(models.Model):
    class Kind(models.TextChoices):
        WAREHOUSE = "warehouse", _("Warehouse")
        STORE = "store", _("Store")
        FACTORY = "factory", _("Factory")

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.WAREHOUSE)
    province = models.CharField(_("province"), max_length=32)
    city = models.CharField(_("city"), max_length=32, blank=True)
    region = models.CharField(_("region"), max_length=32, blank=True, help_text=_("Filled from the province."))
    priority = models.PositiveSmallIntegerField(_("priority"), default=100, help_text=_("Lower ships first."))
    is_active = models.BooleanField(_("active"), default=True)
    accepts_online_orders = models.BooleanField(_("accepts online orders"), default=True)
    shops = models.ManyToManyField(
        "shops.Shop",
        through="ShopWarehouse",
        blank=True,
        related_name="warehouses",
        verbose_name=_("shops"),
    )

    class Meta:
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")
        ordering = ["priority", "code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def save(self, *args, **kwargs) -> None:
        if not self.region:
            self.region = region_for(self.province)
        super().save(*args, **kwargs)


class ShopWarehouse(models.Model):
    """A warehouse a shop ships from (``shop.warehouses``); a shop with none uses any.

    Inventory owns the relation because it sits above shops: a shop knows nothing of
    warehouses. The table is the one the shop's warehouse list always had.
    """

    shop = models.ForeignKey("shops.Shop", on_delete=models.CASCADE, related_name="+")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="+")

    class Meta:
        db_table = "channels_shop_warehouses"
        unique_together = [("shop", "warehouse")]

    def __str__(self) -> str:
        return f"{self.shop_id}:{self.warehouse_id}"


class Sku(models.Model):
    code = models.CharField(_("SKU code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    spec = models.JSONField(_("spec attributes"), default=dict, blank=True)
    barcode = models.CharField(_("barcode"), max_length=64, blank=True, db_index=True)
    weight_grams = models.PositiveIntegerField(_("weight (g)"), default=0)
    price = models.DecimalField(_("list price"), max_digits=12, decimal_places=2, default=0)
    is_active = models.BooleanField(_("active"), default=True)
    is_hot = models.BooleanField(_("hot SKU (flash-sale gate)"), default=False)

    class Meta:
        verbose_name = _("SKU")
        verbose_name_plural = _("SKUs")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Stock(models.Model):
    """One SKU in one warehouse. ``available = on_hand - reserved``.

    Changed only by conditional UPDATEs in ``services`` (never read-modify-write), each
    with a ``StockMovement`` row; the CHECK constraints are the database's last guard.
    """

    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="stocks", verbose_name=_("SKU"))
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="stocks", verbose_name=_("warehouse")
    )
    on_hand = models.IntegerField(_("on hand"), default=0)
    reserved = models.IntegerField(_("reserved"), default=0)
    low_stock_threshold = models.IntegerField(_("low-stock threshold"), default=50)
    low_stock_alerted = models.BooleanField(_("low-stock alert open"), default=False, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("stock")
        verbose_name_plural = _("stock")
        constraints = [
            models.UniqueConstraint(fields=["sku", "warehouse"], name="stock_sku_warehouse_unique"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_non_negative"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="stock_reserved_non_negative"),
            models.CheckConstraint(condition=Q(reserved__lte=F("on_hand")), name="stock_reserved_within_on_hand"),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id}@{self.warehouse_id}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class StockMovement(models.Model):
    """The stock ledger: per stock row, the sums of the deltas equal on_hand and reserved."""

    class Reason(models.TextChoices):
        RESERVE = "reserve", _("Reserve")
        RELEASE = "release", _("Release")
        SHIP = "ship", _("Ship")
        ADJUST = "adjust", _("Adjust")
        RECEIVE = "receive", _("Receive")
        TRANSFER_OUT = "transfer_out", _("Transfer out")
        TRANSFER_IN = "transfer_in", _("Transfer in")
        RETURN = "return", _("Return")

    stock = models.ForeignKey(Stock, on_delete=models.PROTECT, related_name="movements", verbose_name=_("stock"))
    delta_on_hand = models.IntegerField(_("on-hand change"), default=0)
    delta_reserved = models.IntegerField(_("reserved change"), default=0)
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    reference = models.CharField(_("reference"), max_length=64, db_index=True)
    operator = models.CharField(_("operator"), max_length=64, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("stock movement")
        verbose_name_plural = _("stock ledger")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.reason} {self.reference}"


class Reservation(models.Model):
    """Stock held for a reference (an order number and line), keyed opaquely."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        RELEASED = "released", _("Released")
        CONSUMED = "consumed", _("Consumed")

    reference = models.CharField(_("reference"), max_length=64, db_index=True)
    line_reference = models.CharField(_("line reference"), max_length=64, blank=True)
    stock = models.ForeignKey(Stock, on_delete=models.PROTECT, related_name="reservations", verbose_name=_("stock"))
    quantity = models.PositiveIntegerField(_("quantity"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        indexes = [models.Index(fields=["reference", "status"])]

    def __str__(self) -> str:
        return f"{self.reference} x{self.quantity}"


class ReservationClaim(models.Model):
    """One row per reference that ever reserved stock, locked first by ``stock_reserve``.

    Simultaneous first reservations of one reference queue on this row's lock (an upsert on
    the primary key), so the later ones find the first one's reservations and return them
    instead of reserving a second time. The row stays after a release: it is a lock, not a
    state. The daily ``inventory.claims_purge`` deletes rows not claimed for
    ``INVENTORY_CLAIM_RETENTION_DAYS``.
    """

    reference = models.CharField(_("reference"), max_length=64, primary_key=True)
    claimed_at = models.DateTimeField(_("last claimed at"), default=timezone.now)

    class Meta:
        verbose_name = _("reservation claim")
        verbose_name_plural = _("reservation claims")

    def __str__(self) -> str:
        return self.reference


class Transfer(models.Model):
    """A transfer between warehouses (调拨) of one SKU.

    Shipping takes the goods off the source's on_hand at once (a ``transfer_out`` movement);
    while ``in_transit`` they are on no shelf and counted here; receiving adds them to the
    destination (a ``transfer_in`` movement). ``check_stock_ledger`` checks both halves.
    """

    class Status(models.TextChoices):
        IN_TRANSIT = "in_transit", _("In transit")
        RECEIVED = "received", _("Received")

    reference = models.CharField(_("reference"), max_length=64, unique=True)
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="transfers", verbose_name=_("SKU"))
    from_warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="transfers_out", verbose_name=_("from warehouse")
    )
    to_warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="transfers_in", verbose_name=_("to warehouse")
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.IN_TRANSIT)
    operator = models.CharField(_("operator"), max_length=64, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"), auto_now_add=True)
    received_at = models.DateTimeField(_("received at"), null=True, blank=True)

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="transfer_quantity_positive"),
            models.CheckConstraint(
                condition=~Q(from_warehouse=F("to_warehouse")), name="transfer_between_different_warehouses"
            ),
        ]
        indexes = [models.Index(fields=["status", "to_warehouse"], name="transfer_status_to_wh")]

    def __str__(self) -> str:
        return self.reference
