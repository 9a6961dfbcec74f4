"""The Elasticsearch order document and index layout.

Readers and writers use the alias ``{prefix}-orders``; the concrete index behind it is
``{prefix}-orders-v{N}``, so ``search_index --rebuild`` can load ``v{N+1}`` beside it and
swap the alias in one call. Exact-match fields are keywords; product names and the address
use the built-in ``cjk`` analyzer (CJK bigrams, fit for Chinese without a plugin) with a
``raw`` keyword subfield; amounts are scaled floats (cents), so a sum or range never meets
binary-float noise.
"""

import re

from django.conf import settings
from elasticsearch.dsl import Date, Document, Index, Keyword, Long, ScaledFloat, Text

from apps.orders.models import FulfillmentStatus, Order

MONEY = {"scaling_factor": 100}


def _cjk_text() -> Text:
    return Text(analyzer="cjk", fields={"raw": Keyword(ignore_above=256)})


class OrderDocument(Document):
    order_no = Keyword()
    platform_order_id = Keyword()
    phone = Keyword()
    buyer_id = Keyword()
    status = Keyword()
    shop_id = Keyword()
    platform = Keyword()
    warehouse_ids = Keyword(multi=True)
    sku_codes = Keyword(multi=True)
    product_names = _cjk_text()
    recipient_name = Keyword()
    address = _cjk_text()
    payable_amount = ScaledFloat(**MONEY)
    paid_amount = ScaledFloat(**MONEY)
    refunded_amount = ScaledFloat(**MONEY)
    created_at = Date()
    paid_at = Date()
    shipped_at = Date()
    updated_at = Date()
    version = Long()

    @classmethod
    def from_order(cls, order: Order) -> "OrderDocument":
        """The document for ``order``; expects ``lines`` and their fulfillment lines prefetched."""
        lines = list(order.lines.all())
        warehouse_ids = sorted(
            {
                str(fl.fulfillment.warehouse_id)
                for line in lines
                for fl in line.fulfillment_lines.all()
                if fl.fulfillment.status != FulfillmentStatus.CANCELLED
            }
        )
        return cls(
            meta={"id": order.order_no},
            order_no=order.order_no,
            platform_order_id=order.platform_order_id,
            phone=order.recipient_phone,
            buyer_id=order.buyer_id,
            status=order.status,
            shop_id=str(order.shop_id) if order.shop_id else None,
            platform=order.platform,
            warehouse_ids=warehouse_ids,
            sku_codes=sorted({line.sku_code for line in lines}),
            product_names=[line.name for line in lines],
            recipient_name=order.recipient_name,
            address=" ".join(p for p in (order.province, order.city, order.district, order.address) if p),
            payable_amount=str(order.payable_amount),
            paid_amount=str(order.paid_amount),
            refunded_amount=str(order.refunded_amount),
            created_at=order.created_at,
            paid_at=order.paid_at,
            shipped_at=order.shipped_at,
            updated_at=order.updated_at,
            version=order.version,
        )


def alias_name() -> str:
    return f"{settings.ELASTICSEARCH_INDEX_PREFIX}-orders"


def versioned_name(version: int) -> str:
    return f"{alias_name()}-v{version}"


def index_version(name: str) -> int | None:
    """N for ``{prefix}-orders-vN``; None for any other name."""
    match = re.fullmatch(re.escape(alias_name()) + r"-v(\d+)", name)
    return int(match.group(1)) if match else None


def index_definition(name: str) -> Index:
    index = Index(name)
    index.settings(
        number_of_shards=settings.ELASTICSEARCH_SHARDS,
        number_of_replicas=settings.ELASTICSEARCH_REPLICAS,
    )
    index.document(OrderDocument)
    return index


def index_body(name: str) -> dict:
    """``{"settings": ..., "mappings": ...}`` for ``indices.create``."""
    return index_definition(name).to_dict()
