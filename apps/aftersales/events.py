"""Outbox consumers: refunds settling, replacement parcels shipping, platform after-sales."""

import logging
from decimal import Decimal

from django.utils.translation import gettext as _

from apps.aftersales.models import AfterSaleSource, AfterSaleStatus
from apps.aftersales.selectors import aftersale_lines_from_skus
from apps.aftersales.services.aftersales import (
    aftersale_create,
    aftersale_refund_settled,
    aftersale_replacement_shipped,
)
from apps.core.alerts import alert_raise
from apps.core.exceptions import ApplicationError
from apps.core.outbox import outbox_consumer
from apps.orders.models import Fulfillment
from apps.shops.models import Shop

logger = logging.getLogger(__name__)


@outbox_consumer("aftersales.refund_settled", topics=["refund.succeeded", "refund.failed"])
def on_refund_settled(event) -> None:
    payload = event.payload
    aftersale = aftersale_refund_settled(
        order_no=payload["order_no"], reference=payload.get("reference", ""), actor="system:payments"
    )
    # A split refund fails when its last part settles, whichever part failed.
    if aftersale is not None and aftersale.status == AfterSaleStatus.REFUND_FAILED:
        alert_raise(
            kind="aftersale_refund_failed",
            dedup_key=f"aftersale-refund-failed:{aftersale.aftersale_no}",
            message=_("The refund of after-sale %(no)s failed; retry it from the admin.") % {"no": aftersale},
            details={"aftersale_no": aftersale.aftersale_no, "reference": payload.get("reference", "")},
        )


@outbox_consumer("aftersales.replacement_shipped", topics=["fulfillment.shipped"])
def on_fulfillment_shipped(event) -> None:
    payload = event.payload
    if payload.get("kind") not in (Fulfillment.Kind.EXCHANGE, Fulfillment.Kind.REISSUE):
        return
    if not payload.get("source_reference"):
        return
    aftersale_replacement_shipped(
        aftersale_no=payload["source_reference"],
        fulfillment_no=payload["fulfillment_no"],
        actor="system:fulfillment",
    )


@outbox_consumer("aftersales.platform_requests", topics=["channel.aftersale_requested"])
def on_platform_aftersale(event) -> None:
    """Open the after-sale a platform reported, once per (shop, platform refund id).

    A request our rules refuse (too many items, more money than refundable) will not pass
    on a retry either: it is raised as an alert for customer service instead.
    """
    payload = event.payload
    shop_code = Shop.objects.filter(pk=payload["shop_id"]).values_list("code", flat=True).first()
    try:
        lines = aftersale_lines_from_skus(
            order_no=payload["order_no"],
            items=[(int(item["sku_id"]), int(item["quantity"]), None) for item in payload.get("lines", [])],
        )
        aftersale_create(
            order_no=payload["order_no"],
            type=payload["type"],
            lines=lines,
            amount=Decimal(str(payload.get("amount") or "0")),
            reason=payload.get("reason") or _("Requested on the platform."),
            source=AfterSaleSource.PLATFORM,
            actor=f"platform:{shop_code or payload['shop_id']}",
            platform_refund_id=str(payload["platform_refund_id"]),
            shop_id=payload["shop_id"],
        )
    except ApplicationError as exc:
        logger.warning("platform after-sale %s refused: %s", payload.get("platform_refund_id"), exc.message)
        alert_raise(
            kind="aftersale_platform_refused",
            dedup_key=f"aftersale-platform:{payload['shop_id']}:{payload.get('platform_refund_id')}",
            message=_("Platform after-sale %(id)s on order %(order)s was refused: %(reason)s")
            % {"id": payload.get("platform_refund_id"), "order": payload["order_no"], "reason": exc.message},
            details={"code": exc.code, "payload": payload, **exc.extra},
        )
