"""Demo shops: one per platform (pulled from the simulator, and pushed to by it) plus our
own storefront app, whose app key and secret are printed for trying the signed API. Each
platform shop gets a demo access token (the seller's authorization) valid for 30 days; the
simulator accepts exactly that token.

Idempotent: shops are keyed by code and mappings by (shop, platform SKU id). Runs after
the inventory demo, which creates the SKUs mapped here.
"""

import sys
from datetime import timedelta
from typing import TextIO

from django.conf import settings
from django.utils import timezone

from apps.channels.models import SkuMapping
from apps.inventory.models import Sku, Warehouse
from apps.shops.models import Platform, Shop

# code, name, platform, app key, secret, pull interval (minutes; short so the demo moves)
SHOPS = [
    ("tmall-flagship", "天猫旗舰店", Platform.TMALL, "12345678", "demo-tmall-secret", 3),
    ("jd-pop", "京东自营旗舰店", Platform.JD, "JDDEMOAPPKEY01", "demo-jd-secret", 3),
    ("douyin-live", "抖音直播小店", Platform.DOUYIN, "7000000000000000001", "demo-douyin-secret", 2),
    ("wechat-mini", "微信小店", Platform.WECHAT, "wxdemo0000000001", "demo-wechat-secret", 2),
    ("own-app", "品牌自营小程序", Platform.OWN, "demo-storefront", "demo-storefront-secret", 10),
]
MAPPED_SKUS = 24
TOKEN_DAYS = 30

PROCESSES = [("channel-sim", [sys.executable, "-m", "apps.channels.simulator", "--port", "8003"])]


def seed(stdout: TextIO) -> None:
    skus = list(Sku.objects.filter(is_active=True).order_by("code")[:MAPPED_SKUS])
    warehouses = list(Warehouse.objects.filter(is_active=True, accepts_online_orders=True))
    for index, (code, name, platform, app_key, secret, interval) in enumerate(SHOPS, start=1):
        shop, created = Shop.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "platform": platform,
                "app_key": app_key,
                "api_url": "" if platform == Platform.OWN else settings.CHANNEL_SIMULATOR_URL,
                "pull_enabled": platform != Platform.OWN,
                "pull_interval_minutes": interval,
                "pull_cursor": timezone.now() - timedelta(minutes=10),
                "stock_sync_ratio": "0.90",
                "safety_stock": 2,
            },
        )
        if created:
            shop.set_app_secret(secret)
            shop.save(update_fields=["app_secret_encrypted"])
            shop.warehouses.set(warehouses)
        if platform != Platform.OWN and not shop.access_token_encrypted:
            shop.set_access_token(f"demo-{code}-token", expires_at=timezone.now() + timedelta(days=TOKEN_DAYS))
            shop.save(update_fields=["access_token_encrypted", "access_token_expires_at"])
        if platform == Platform.OWN:
            stdout.write(f"Storefront API: X-App-Key {app_key}, secret {secret} (shop {code})\n")
            continue
        for position, sku in enumerate(skus):
            SkuMapping.objects.get_or_create(
                shop=shop,
                platform_sku_id=f"{index}{position + 1:05d}",
                defaults={"sku": sku, "outer_id": sku.code, "platform_item_id": f"{index}9{position // 4:04d}"},
            )
    stdout.write(f"Channels: {len(SHOPS)} shops, {len(skus)} SKUs mapped per platform shop.\n")
