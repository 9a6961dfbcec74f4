"""Reads for the API, the admin and the event consumers."""

from django.db.models import QuerySet, Sum
from django.utils.translation import gettext as _

from apps.aftersales.error_codes import AfterSaleErrorCode
from apps.aftersales.models import AfterSale, AfterSaleLine, AfterSaleStatus
from apps.aftersales.services.aftersales import AfterSaleLineInput
from apps.core.exceptions import NotFound, Unprocessable
from apps.orders.models import OrderLine


def aftersale_get(*, aftersale_no: str, shop_id: int | None = None) -> AfterSale:
    """One after-sale with its lines and log; a shop caller sees only its own shop's (404 otherwise)."""
    query = AfterSale.objects.select_related("order").prefetch_related("lines__order_line", "logs")
    if shop_id is not None:
        query = query.filter(shop_id=shop_id)
    aftersale = query.filter(aftersale_no=aftersale_no).first()
    if aftersale is None:
        raise NotFound(
            AfterSaleErrorCode.AFTERSALE_NOT_FOUND, _("After-sale %(no)s does not exist.") % {"no": aftersale_no}
        )
    return aftersale


def aftersale_list(
    *, shop_id: int | None = None, order_no: str = "", statuses: tuple[str, ...] = ()
) -> QuerySet[AfterSale]:
    query = AfterSale.objects.select_related("order")
    if shop_id is not None:
        query = query.filter(shop_id=shop_id)
    if order_no:
        query = query.filter(order__order_no=order_no)
    if statuses:
        query = query.filter(status__in=statuses)
    return query


def aftersale_lines_from_skus(
    *, order_no: str, items: list[tuple[int, int, int | None]], shop_id: int | None = None
) -> list[AfterSaleLineInput]:
    """Map (sku_id, quantity, exchange_sku_id) to the order's lines of that SKU, first line first.

    Platforms name SKUs, not our line ids. Each line takes at most what is still returnable
    on it: bought, minus what open after-sales (neither rejected nor cancelled) and earlier
    items of this request already claim. A quantity larger than the SKU's lines still hold
    is left on the last one, so the quantity check refuses it with its usual error. An order
    the caller cannot see maps to nothing: opening the after-sale then answers 404.
    """
    query = OrderLine.objects.filter(order__order_no=order_no)
    if shop_id is not None:
        query = query.filter(order__shop_id=shop_id)
    lines_by_sku: dict[int, list[OrderLine]] = {}
    for line in query.order_by("pk"):
        lines_by_sku.setdefault(line.sku_id, []).append(line)
    if not lines_by_sku:
        return []
    unknown = sorted({sku_id for sku_id, _quantity, _exchange in items if sku_id not in lines_by_sku})
    if unknown:
        raise Unprocessable(
            AfterSaleErrorCode.INVALID_LINES,
            _("These SKUs are not in order %(no)s.") % {"no": order_no},
            {"sku_ids": unknown},
        )
    claimed = dict(
        AfterSaleLine.objects.filter(order_line__in=query)
        .exclude(aftersale__status__in=[AfterSaleStatus.REJECTED, AfterSaleStatus.CANCELLED])
        .values("order_line_id")
        .annotate(total=Sum("quantity"))
        .values_list("order_line_id", "total")
    )
    returnable = {
        line.pk: max(line.quantity - claimed.get(line.pk, 0), 0) for lines in lines_by_sku.values() for line in lines
    }
    result = []
    for sku_id, quantity, exchange_sku_id in items:
        candidates = lines_by_sku[sku_id]
        left = quantity
        for index, line in enumerate(candidates):
            take = left if index == len(candidates) - 1 else min(left, returnable[line.pk])
            if take > 0:
                result.append(AfterSaleLineInput(order_line_id=line.pk, quantity=take, exchange_sku_id=exchange_sku_id))
                returnable[line.pk] = max(returnable[line.pk] - take, 0)
            left -= take
    return result
