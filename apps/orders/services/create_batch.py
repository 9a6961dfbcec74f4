"""Paid platform orders created in batches: the same orders ``order_create`` makes, with a
number of queries that does not grow with the batch.

``orders_create_paid_batch`` checks and prices every draft as ``order_create`` does (one SKU
query for the batch); a draft that fails its checks is returned as its error and the others
go on. The valid ones are written together in one transaction: the orders, their lines, the
stock reservations (``stock_reserve_many``), the status logs and the ``order.created`` /
``order.paid`` events, each in one statement. A draft short of stock is created without a
reservation and held as out of stock, as ``order_create(on_shortage="hold")`` does (that
path costs a few queries per short order).

A database error (a platform order imported by someone else meanwhile, a number collision,
stock that kept changing under the batch) rolls the whole batch back and is raised: the
caller then creates the orders one by one, where each gets its own answer.
"""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from apps.core.exceptions import ApplicationError
from apps.core.numbers import next_number
from apps.core.outbox import outbox_publish_many
from apps.inventory.models import Sku
from apps.inventory.selectors import shops_warehouse_ids
from apps.inventory.services import Destination, ReserveItem, StockRequest, stock_reserve_many
from apps.orders.models import Order, OrderLine, OrderStatusLog
from apps.orders.services.common import order_cache_invalidate_on_commit
from apps.orders.services.create import (
    OrderLineInput,
    PaidInput,
    RecipientInput,
    order_created_events,
    order_created_log,
    order_prepare,
)
from apps.orders.services.shortage import order_hold_out_of_stock


@dataclass(frozen=True)
class PaidOrderDraft:
    """One platform order that arrived paid, as ``order_create`` takes it."""

    shop: object
    buyer_id: str
    lines: list[OrderLineInput]
    recipient: RecipientInput
    paid: PaidInput
    platform_order_id: str
    discount_amount: Decimal = Decimal(0)
    shipping_fee: Decimal | None = None
    buyer_message: str = ""


def orders_create_paid_batch(drafts: list[PaidOrderDraft], *, actor: str) -> list[Order | ApplicationError]:
    """Create the drafts' orders (``paid``, or ``on_hold`` when short of stock); returns, per
    draft in order, its order or the ``ApplicationError`` that refused it."""
    skus = Sku.objects.in_bulk({line.sku_id for draft in drafts for line in draft.lines})
    results: list[Order | ApplicationError] = []
    prepared: list[tuple[Order, list[OrderLine]]] = []
    for draft in drafts:
        try:
            order, lines = order_prepare(
                shop=draft.shop,
                buyer_id=draft.buyer_id,
                lines=draft.lines,
                recipient=draft.recipient,
                discount_amount=draft.discount_amount,
                shipping_fee=draft.shipping_fee,
                buyer_message=draft.buyer_message,
                platform_order_id=draft.platform_order_id,
                paid=draft.paid,
                skus=skus,
            )
        except ApplicationError as exc:
            results.append(exc)
            continue
        results.append(order)
        prepared.append((order, lines))
    if prepared:
        _write(prepared, actor=actor)
    return results


def _write(prepared: list[tuple[Order, list[OrderLine]]], *, actor: str) -> None:
    orders = [order for order, _lines in prepared]
    warehouses = shops_warehouse_ids({order.shop_id for order in orders if order.shop_id})
    with transaction.atomic():
        for order in orders:
            order.order_no = next_number()
        Order.objects.bulk_create(orders)
        if any(order.pk is None for order in orders):
            ids = dict(Order.objects.filter(order_no__in=[o.order_no for o in orders]).values_list("order_no", "pk"))
            for order in orders:
                order.pk = ids[order.order_no]
        all_lines = []
        for order, lines in prepared:
            for line in lines:
                line.order = order
            all_lines.extend(lines)
        OrderLine.objects.bulk_create(all_lines)
        if any(line.pk is None for line in all_lines):
            by_order: dict[int, list[int]] = defaultdict(list)
            for pk, order_id in OrderLine.objects.filter(order__in=orders).order_by("id").values_list("pk", "order_id"):
                by_order[order_id].append(pk)
            for order, lines in prepared:
                for line, pk in zip(lines, by_order[order.pk], strict=True):
                    line.pk = pk
        reserved = stock_reserve_many(
            items=[
                ReserveItem(
                    reference=order.order_no,
                    requests=[StockRequest(line.sku_id, line.quantity, str(line.pk)) for line in lines],
                    destination=Destination(province=order.province, city=order.city),
                    warehouse_ids=warehouses.get(order.shop_id) or None,
                )
                for order, lines in prepared
            ],
            operator=actor,
        )
        OrderStatusLog.objects.bulk_create([order_created_log(order, actor=actor) for order in orders])
        outbox_publish_many([event for order in orders for event in order_created_events(order)])
        for order in orders:
            shortage = reserved.shortages.get(order.order_no)
            if shortage is not None:
                order_hold_out_of_stock(order=order, shortage=shortage, actor=actor)
        order_cache_invalidate_on_commit([order.order_no for order in orders])
