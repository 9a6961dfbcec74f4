"""Merge (合单): one parcel for several orders of the same buyer going to the same address.

The beat job ``fulfillments_merge`` looks at fulfillments that are still ``pending`` and not
yet claimed for the WMS (``sent_to_wms_at`` empty), created within ``MERGE_WINDOW_MINUTES``,
of orders in ``pending_shipment`` (so never a held order). Fulfillments of one warehouse whose
orders share shop, buyer, recipient name, phone and full address merge into the oldest of
them: it takes every line, the others are cancelled with ``merged_into`` set. Never across
warehouses. ``MERGE_HOLD_MINUTES`` keeps new fulfillments away from the WMS long enough for
this job (every minute) to catch them (see ``fulfillment.fulfillments_dispatch_due``), and
the submit task merges a fulfillment with its peers once more just before sending it
(``fulfillment_merge_and_submit``), so peers that exist when the hold ends always travel
together.
"""

from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.orders.models import FS, Fulfillment, FulfillmentLine, Order, OrderStatus
from apps.orders.services.common import order_lock, order_record_change
from apps.orders.services.fulfillment import (
    fulfillment_create,
    fulfillment_is_due,
    fulfillment_order_nos,
    fulfillment_publish,
    fulfillment_submit_to_wms,
)

ORDER_KEY_FIELDS = (
    "shop_id",
    "buyer_id",
    "recipient_name",
    "recipient_phone",
    "province",
    "city",
    "district",
    "address",
    "status",
)


def _mergeable(fulfillment: Fulfillment) -> bool:
    return (
        fulfillment.status == FS.PENDING
        and fulfillment.kind == Fulfillment.Kind.NORMAL
        and fulfillment.sent_to_wms_at is None
        and fulfillment.merged_into_id is None
    )


def _order_key(values) -> tuple[str, ...]:
    return tuple(str(v).strip().lower() for v in values)


def merge_groups(*, since) -> list[list[int]]:
    """Ids of pending fulfillments that may merge, grouped (oldest first); groups of two or more."""
    rows = (
        FulfillmentLine.objects.filter(
            fulfillment__status=FS.PENDING,
            fulfillment__kind=Fulfillment.Kind.NORMAL,
            fulfillment__sent_to_wms_at=None,
            fulfillment__merged_into=None,
            fulfillment__created_at__gte=since,
        )
        .values_list(
            "fulfillment_id", "fulfillment__warehouse_id", *(f"order_line__order__{f}" for f in ORDER_KEY_FIELDS)
        )
        .order_by("fulfillment_id")
    )
    keys: dict[int, set] = defaultdict(set)
    for fulfillment_id, warehouse_id, *order_key in rows:
        keys[fulfillment_id].add((warehouse_id, *_order_key(order_key)))
    groups: dict[tuple, list[int]] = defaultdict(list)
    for fulfillment_id, fulfillment_keys in keys.items():
        if len(fulfillment_keys) != 1:
            continue
        (key,) = fulfillment_keys
        if key[-1] != OrderStatus.PENDING_SHIPMENT:
            continue
        groups[key].append(fulfillment_id)
    return [sorted(ids) for ids in groups.values() if len(ids) > 1]


def fulfillments_merge_group(*, fulfillment_ids: list[int], actor: str) -> Fulfillment | None:
    """Merge one group into its oldest fulfillment, re-checked under locks; None if nothing merged."""
    with transaction.atomic():
        order_nos = sorted(
            set(
                FulfillmentLine.objects.filter(fulfillment_id__in=fulfillment_ids).values_list(
                    "order_line__order__order_no", flat=True
                )
            )
        )
        orders = [order_lock(order_no=no) for no in order_nos]
        # Re-checked under the locks: an address edited since the grouping read splits the group.
        order_keys = {_order_key(getattr(order, name) for name in ORDER_KEY_FIELDS) for order in orders}
        if len(order_keys) != 1 or any(order.status != OrderStatus.PENDING_SHIPMENT for order in orders):
            return None
        locked = Fulfillment.objects.select_for_update().filter(pk__in=fulfillment_ids).order_by("pk")
        fulfillments = [f for f in locked if _mergeable(f)]
        if len(fulfillments) < 2 or len({f.warehouse_id for f in fulfillments}) != 1:
            return None
        target, *others = fulfillments
        FulfillmentLine.objects.filter(fulfillment__in=others).update(fulfillment=target)
        for other in others:
            other.cancel()
            other.merged_into = target
            other.save(update_fields=["status", "merged_into"])
        merged_order_nos = fulfillment_order_nos(target)
        for other in others:
            fulfillment_publish(other, order_nos=merged_order_nos, extra={"merged_into": target.fulfillment_no})
        remark = _("Fulfillments %(merged)s merged into %(target)s.") % {
            "merged": ", ".join(o.fulfillment_no for o in others),
            "target": target.fulfillment_no,
        }
        for order in orders:
            order_record_change(order=order, actor=actor, remark=remark, update_fields=())
    return target


def fulfillments_merge(*, actor: str) -> list[str]:
    """The beat job: merge every mergeable group; returns the numbers of the merged parcels."""
    if not settings.MERGE_ENABLED:
        return []
    since = timezone.now() - timedelta(minutes=settings.MERGE_WINDOW_MINUTES)
    merged = []
    for group in merge_groups(since=since):
        target = fulfillments_merge_group(fulfillment_ids=group, actor=actor)
        if target is not None:
            merged.append(target.fulfillment_no)
    return merged


def fulfillment_merge_and_submit(*, fulfillment_no: str, actor: str) -> Fulfillment | None:
    """Send a fulfillment to the WMS once its merge hold is over, merged with its peers first.

    Before the hold ends nothing happens (the dispatch job sends it later). A fulfillment
    merged into another sends that one. Returns what ``fulfillment_submit_to_wms`` returns,
    or None when nothing was sent; safe to run twice.
    """
    fulfillment = Fulfillment.objects.filter(fulfillment_no=fulfillment_no).first()
    if fulfillment is None or not fulfillment_is_due(fulfillment):
        return None
    if settings.MERGE_ENABLED and _mergeable(fulfillment):
        since = timezone.now() - timedelta(minutes=settings.MERGE_WINDOW_MINUTES)
        group = next((ids for ids in merge_groups(since=since) if fulfillment.pk in ids), None)
        if group is not None:
            fulfillments_merge_group(fulfillment_ids=group, actor=actor)
            fulfillment.refresh_from_db(fields=["merged_into"])
    if fulfillment.merged_into_id is not None:
        fulfillment_no = Fulfillment.objects.values_list("fulfillment_no", flat=True).get(pk=fulfillment.merged_into_id)
    return fulfillment_submit_to_wms(fulfillment_no=fulfillment_no, actor=actor)


def order_detach_from_merged(*, order: Order, actor: str) -> list[Fulfillment]:
    """Move a locked order's lines out of the pending parcels it shares with other orders
    into a parcel of its own (same warehouse), e.g. because its address changed.

    Runs inside the caller's transaction, after ``order_lock``. Returns the new parcels,
    published as ``fulfillment.created`` (so they go to the WMS like any other).
    """
    rows = list(
        FulfillmentLine.objects.filter(fulfillment__lines__order_line__order=order, fulfillment__status=FS.PENDING)
        .values_list("fulfillment_id", "order_line__order_id")
        .distinct()
    )
    shared = sorted({fid for fid, order_id in rows if order_id != order.pk})
    detached = []
    for fulfillment in Fulfillment.objects.select_for_update().filter(pk__in=shared).order_by("pk"):
        mine = list(FulfillmentLine.objects.filter(fulfillment=fulfillment, order_line__order=order))
        if fulfillment.status != FS.PENDING or not mine:
            continue
        own = fulfillment_create(warehouse_id=fulfillment.warehouse_id, lines=[], kind=fulfillment.kind)
        FulfillmentLine.objects.filter(pk__in=[line.pk for line in mine]).update(fulfillment=own)
        fulfillment_publish(own, order_nos=[order.order_no])
        order_record_change(
            order=order,
            actor=actor,
            remark=_("Taken out of merged fulfillment %(merged)s into %(own)s.")
            % {"merged": fulfillment.fulfillment_no, "own": own.fulfillment_no},
            update_fields=(),
        )
        detached.append(own)
    return detached
