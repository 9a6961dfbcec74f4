# The shop moved here from channels, keeping its table (``channels_shop``) and every row.
#
# This migration takes the place of channels' 0001_initial and 0003_shop_access_token (the
# only migrations that created or changed the shop, besides three columns channels 0002
# added, included here): a database that applied those has this one too, so nothing runs on
# it, and a fresh database creates the table here. Channels' own migrations now depend on
# this one, so the migration graph runs one way: shops <- inventory <- orders <- channels.
# The shop's warehouses are inventory's (``inventory.ShopWarehouse``, same table as before).

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    replaces = [("channels", "0001_initial"), ("channels", "0003_shop_access_token")]

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Shop",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("code", models.CharField(max_length=32, unique=True, verbose_name="code")),
                ("name", models.CharField(max_length=100, verbose_name="name")),
                (
                    "platform",
                    models.CharField(
                        choices=[
                            ("tmall", "Tmall / Taobao"),
                            ("jd", "JD"),
                            ("douyin", "Douyin"),
                            ("wechat", "WeChat mini-program shop"),
                            ("own", "Own API"),
                        ],
                        max_length=16,
                        verbose_name="platform",
                    ),
                ),
                ("app_key", models.CharField(max_length=64, unique=True, verbose_name="app key")),
                (
                    "app_secret_encrypted",
                    models.TextField(blank=True, editable=False, verbose_name="app secret (encrypted)"),
                ),
                (
                    "access_token_encrypted",
                    models.TextField(blank=True, editable=False, verbose_name="access token (encrypted)"),
                ),
                (
                    "access_token_expires_at",
                    models.DateTimeField(blank=True, editable=False, null=True, verbose_name="access token expires at"),
                ),
                (
                    "api_url",
                    models.URLField(
                        blank=True,
                        help_text="Leave empty for the platform's public endpoint.",
                        verbose_name="platform API URL",
                    ),
                ),
                ("is_active", models.BooleanField(default=True, verbose_name="active")),
                ("pull_enabled", models.BooleanField(default=False, verbose_name="pull enabled")),
                (
                    "pull_interval_minutes",
                    models.PositiveIntegerField(default=10, verbose_name="pull interval (minutes)"),
                ),
                ("pull_cursor", models.DateTimeField(blank=True, null=True, verbose_name="pull cursor")),
                (
                    "pull_failures",
                    models.PositiveIntegerField(default=0, editable=False, verbose_name="consecutive pull failures"),
                ),
                (
                    "last_pull_at",
                    models.DateTimeField(blank=True, editable=False, null=True, verbose_name="last pull started"),
                ),
                (
                    "stock_sync_ratio",
                    models.DecimalField(decimal_places=2, default=1, max_digits=4, verbose_name="stock sync ratio"),
                ),
                ("safety_stock", models.PositiveIntegerField(default=0, verbose_name="safety stock")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
            ],
            options={
                "verbose_name": "shop",
                "verbose_name_plural": "shops",
                "db_table": "channels_shop",
                "ordering": ["code"],
            },
        ),
    ]
