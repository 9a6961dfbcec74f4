"""SKU mappings and shop secrets: the staff-maintained configuration of a shop."""

from django.db import transaction
from django.utils import timezone

from apps.channels.error_codes import ChannelErrorCode
from apps.channels.models import RawOrder, SkuMapping
from apps.shops.models import Shop


def sku_mapping_save(*, mapping: SkuMapping, actor: str) -> tuple[SkuMapping, int]:
    """Save a new or edited mapping; the shop's raw orders that failed only for want of a
    mapping are queued again. Returns (mapping, how many raw orders were re-queued)."""
    with transaction.atomic():
        mapping.save()
        requeued = RawOrder.objects.filter(
            shop_id=mapping.shop_id, status=RawOrder.Status.FAILED, error_code=ChannelErrorCode.UNMAPPED_SKU
        ).update(status=RawOrder.Status.PENDING, next_attempt_at=timezone.now(), updated_at=timezone.now())
        if requeued:
            from apps.channels.services.raw_orders import conversion_kick

            transaction.on_commit(conversion_kick)
    return mapping, requeued


def shop_set_app_secret(*, shop: Shop, secret: str, actor: str) -> Shop:
    """Store a new app secret (encrypted at rest)."""
    with transaction.atomic():
        shop.set_app_secret(secret)
        shop.save(update_fields=["app_secret_encrypted"])
    return shop
