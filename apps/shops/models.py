"""The shop: a seller's account on a platform, or one of our own storefront apps.

Every app needs it (orders belong to a shop, stock is sold through shops, a signed API request
acts as a shop), so it lives low, beside core, and knows nothing of the apps above it.
"""

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core import crypto


class Platform(models.TextChoices):
    TMALL = "tmall", _("Tmall / Taobao")
    JD = "jd", _("JD")
    DOUYIN = "douyin", _("Douyin")
    WECHAT = "wechat", _("WeChat mini-program shop")
    OWN = "own", _("Own API")


def _rate_field(verbose_name):
    return models.PositiveIntegerField(
        verbose_name,
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty: the default from the settings."),
    )


class Shop(models.Model):
    """A shop on a platform, or one of our own storefront apps (platform ``own``).

    API clients authenticate as a shop with ``app_key`` and an HMAC signature made with the
    app secret. The secret is stored encrypted (``apps.core.crypto``) and never shown.

    ``access_token`` is the seller's authorization the platform issued to our app for this
    shop (Taobao/Tmall ``session``, JD JOS / Douyin / WeChat ``access_token``); the adapters
    send it with every call. Encrypted like the secret, write-only in the admin.

    The warehouses a shop ships from are inventory's (``inventory.ShopWarehouse``, reached as
    ``shop.warehouses``): inventory sits above shops, so the relation lives there.
    """

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    platform = models.CharField(_("platform"), max_length=16, choices=Platform.choices)
    app_key = models.CharField(_("app key"), max_length=64, unique=True)
    app_secret_encrypted = models.TextField(_("app secret (encrypted)"), blank=True, editable=False)
    access_token_encrypted = models.TextField(_("access token (encrypted)"), blank=True, editable=False)
    access_token_expires_at = models.DateTimeField(_("access token expires at"), null=True, blank=True, editable=False)
    api_url = models.URLField(
        _("platform API URL"), blank=True, help_text=_("Leave empty for the platform's public endpoint.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    pull_enabled = models.BooleanField(_("pull enabled"), default=False)
    pull_interval_minutes = models.PositiveIntegerField(_("pull interval (minutes)"), default=10)
    pull_cursor = models.DateTimeField(_("pull cursor"), null=True, blank=True)
    pull_failures = models.PositiveIntegerField(_("consecutive pull failures"), default=0, editable=False)
    last_pull_at = models.DateTimeField(_("last pull started"), null=True, blank=True, editable=False)
    stock_sync_ratio = models.DecimalField(_("stock sync ratio"), max_digits=4, decimal_places=2, default=1)
    safety_stock = models.PositiveIntegerField(_("safety stock"), default=0)
    # API rate limits of the shop's app per kind of endpoint (apps.shops.throttling);
    # empty: the default from settings (RATE_LIMITS).
    rate_limit_create_per_minute = _rate_field(_("create requests per minute"))
    rate_limit_create_burst = _rate_field(_("create burst"))
    rate_limit_read_per_minute = _rate_field(_("read requests per minute"))
    rate_limit_read_burst = _rate_field(_("read burst"))
    rate_limit_push_per_minute = _rate_field(_("platform pushes per minute"))
    rate_limit_push_burst = _rate_field(_("platform push burst"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        # The table channels created before the shop had an app of its own: no row moved.
        db_table = "channels_shop"
        verbose_name = _("shop")
        verbose_name_plural = _("shops")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    @property
    def app_secret(self) -> str:
        return crypto.decrypt(self.app_secret_encrypted) if self.app_secret_encrypted else ""

    def set_app_secret(self, secret: str) -> None:
        self.app_secret_encrypted = crypto.encrypt(secret)

    @property
    def access_token(self) -> str:
        return crypto.decrypt(self.access_token_encrypted) if self.access_token_encrypted else ""

    def set_access_token(self, token: str, *, expires_at=None) -> None:
        self.access_token_encrypted = crypto.encrypt(token) if token else ""
        self.access_token_expires_at = expires_at if token else None
