"""The order archive: finished orders past ``ORDER_ARCHIVE_AFTER_MONTHS`` move, in batches, to
``archive_<table>`` tables of the same shape, so the hot tables (and their indexes) hold the
orders still being worked on.

An archived order comes back whole when something needs it (``orders_restore``): an
after-sale opened on it, its detail page or API, a search by its number, platform order id,
phone or buyer. It then lives in the hot tables again until it is old and idle once more.

What moves with an order: its lines, status log, money events, fulfillments with their lines,
and rows of other apps that point at those with ``CASCADE``. An order that another app's row
protects (an after-sale, a work order: ``PROTECT``) stays hot, as does one whose parcel was
merged with another order's. ``SET_NULL`` links (a raw platform order) are cleared.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from apps.orders.models import (
    TERMINAL_STATUSES,
    Fulfillment,
    FulfillmentLine,
    Order,
    OrderLine,
    OrderMoneyEvent,
    OrderStatusLog,
)
from apps.orders.services.common import order_cache_invalidate_on_commit

logger = logging.getLogger(__name__)

PREFIX = "archive_"
# The order's own graph, parents first; each with the key that ties its rows to a batch.
OWN = (
    (Order, "id", "orders"),
    (OrderLine, "order_id", "orders"),
    (OrderStatusLog, "order_id", "orders"),
    (OrderMoneyEvent, "order_id", "orders"),
    (Fulfillment, "id", "fulfillments"),
    (FulfillmentLine, "fulfillment_id", "fulfillments"),
)
_KEYS = {Order: "orders", OrderLine: "lines", Fulfillment: "fulfillments"}


def _foreign_relations() -> list[tuple[type[models.Model], str, str, object]]:
    """(model, column, key set, on_delete) of every other model pointing at an order, a line
    or a fulfillment."""
    own = {model for model, _column, _key in OWN}
    found = []
    for target, key in _KEYS.items():
        # include_hidden: links declared with related_name="+" count too.
        for rel in target._meta.get_fields(include_hidden=True):
            if not rel.auto_created or rel.concrete or rel.many_to_many or rel.related_model in own:
                continue
            found.append((rel.related_model, rel.field.column, key, rel.on_delete))
    return found


def archive_table(model: type[models.Model]) -> str:
    return PREFIX + model._meta.db_table


def _columns(table: str) -> list[str]:
    with connection.cursor() as cursor:
        return [column.name for column in connection.introspection.get_table_description(cursor, table)]


def archive_tables_ensure() -> None:
    """Create the archive tables (``CREATE TABLE ... LIKE``: same columns and indexes, no
    foreign keys) and add the columns a later migration gave the hot table."""
    models_ = [model for model, _c, _k in OWN] + [
        m for m, _c, _k, on_delete in _foreign_relations() if on_delete is models.CASCADE
    ]
    for model in models_:
        hot, cold = model._meta.db_table, archive_table(model)
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {cold} LIKE {hot}")
            missing = [name for name in _columns(hot) if name not in set(_columns(cold))]
            if missing:
                cursor.execute(f"SHOW CREATE TABLE {hot}")
                definition = cursor.fetchone()[1]
                for name in missing:
                    line = next(
                        row.strip().rstrip(",")
                        for row in definition.splitlines()
                        if row.strip().startswith(f"`{name}`")
                    )
                    cursor.execute(f"ALTER TABLE {cold} ADD COLUMN {line}")


def _copy(model, column: str, ids, *, to_archive: bool) -> None:
    hot, cold = model._meta.db_table, archive_table(model)
    source, target = (hot, cold) if to_archive else (cold, hot)
    # The archive gets new hot columns on the next archive run (DDL would end the caller's
    # transaction here): until then a restore copies the columns both have.
    archived = set(_columns(cold))
    names = ", ".join(f"`{name}`" for name in _columns(hot) if name in archived)
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        insert = f"INSERT INTO {target} ({names}) SELECT {names} FROM {source} WHERE {column} IN ({marks})"  # noqa: S608
        cursor.execute(insert, list(ids))
        cursor.execute(f"DELETE FROM {source} WHERE {column} IN ({marks})", list(ids))  # noqa: S608


def _select_ids(table: str, column: str, key: str, ids) -> list[int]:
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {key} FROM {table} WHERE {column} IN ({marks})", list(ids))  # noqa: S608
        return [row[0] for row in cursor.fetchall()]


def _movable(order_ids: list[int]) -> tuple[list[int], list[int]]:
    """The orders of ``order_ids`` whose parcels hold only orders of the batch and were never
    merged, and those parcels."""
    keep = set(order_ids)
    parcels = FulfillmentLine.objects.filter(
        fulfillment_id__in=FulfillmentLine.objects.filter(order_line__order_id__in=order_ids).values("fulfillment_id")
    ).values_list("fulfillment_id", "order_line__order_id", "fulfillment__merged_into_id")
    by_parcel: dict[int, set[int]] = {}
    merged: set[int] = set()
    for parcel, order_id, merged_into in parcels:
        by_parcel.setdefault(parcel, set()).add(order_id)
        if merged_into is not None:
            merged.add(parcel)
    merged |= set(
        Fulfillment.objects.filter(merged_into_id__in=list(by_parcel)).values_list("merged_into_id", flat=True)
    )
    changed = True
    while changed:
        changed = False
        for parcel, orders in by_parcel.items():
            if (parcel in merged or not orders <= keep) and orders & keep:
                keep -= orders
                changed = True
    parcels_kept = [parcel for parcel, orders in by_parcel.items() if orders <= keep and parcel not in merged]
    return sorted(keep), parcels_kept


def orders_archive(*, actor: str, now: datetime | None = None, batch_size: int | None = None) -> int:
    """Move finished orders idle for ``ORDER_ARCHIVE_AFTER_MONTHS`` (30-day months; 0: never) to the archive,
    a batch per transaction. Safe to run twice, and beside the order services: the rows are
    locked, and only orders in a final status move. Returns the number of orders moved."""
    months = settings.ORDER_ARCHIVE_AFTER_MONTHS
    if months <= 0:
        return 0
    if connection.vendor != "mysql":
        # The archive tables are made with CREATE TABLE ... LIKE (MySQL, MariaDB, TiDB).
        logger.warning("orders_archive: the order archive needs MySQL, MariaDB or TiDB")
        return 0
    before = (now or timezone.now()) - timedelta(days=30 * months)
    batch_size = batch_size or settings.ORDER_ARCHIVE_BATCH_SIZE
    archive_tables_ensure()
    foreign = _foreign_relations()
    candidates = Order.objects.filter(status__in=TERMINAL_STATUSES, updated_at__lt=before)
    for model, column, key, on_delete in foreign:
        if key == "orders" and on_delete in (models.PROTECT, models.RESTRICT):
            candidates = candidates.exclude(Exists(model.objects.filter(**{column: OuterRef("pk")})))
    moved, last_id = 0, 0
    while True:
        with transaction.atomic():
            ids = list(
                candidates.filter(id__gt=last_id)
                .select_for_update()
                .order_by("id")
                .values_list("id", flat=True)[:batch_size]
            )
            if not ids:
                return moved
            last_id = ids[-1]
            order_ids, parcel_ids = _movable(ids)
            if order_ids:
                _move(order_ids, parcel_ids, foreign, to_archive=True)
                moved += len(order_ids)
        logger.info("orders_archive (%s): %d orders moved", actor, moved)


def _move(order_ids: list[int], parcel_ids: list[int], foreign, *, to_archive: bool) -> None:
    source_line_table = OrderLine._meta.db_table if to_archive else archive_table(OrderLine)
    keys = {
        "orders": order_ids,
        "fulfillments": parcel_ids,
        "lines": _select_ids(source_line_table, "order_id", "id", order_ids),
    }
    if to_archive:
        for model, column, key, on_delete in foreign:
            if keys[key] and on_delete is models.SET_NULL:
                model.objects.filter(**{f"{column}__in": keys[key]}).update(**{column: None})
    cascades = [(model, column, key) for model, column, key, on_delete in foreign if on_delete is models.CASCADE]
    # Children before parents out of the hot tables (their foreign keys), parents first back in.
    steps = [*cascades, *reversed(OWN)] if to_archive else [*OWN, *cascades]
    for model, column, key in steps:
        if keys[key]:
            _copy(model, column, keys[key], to_archive=to_archive)


def archived_order_nos(
    *, order_no: str = "", platform_order_id: str = "", phone: str = "", buyer_id: str = "", limit: int = 50
) -> list[str]:
    """Numbers of archived orders matching one exact key (each has an index in the archive)."""
    table = archive_table(Order)
    if table not in connection.introspection.table_names():
        return []
    filters = {
        "order_no": order_no,
        "platform_order_id": platform_order_id,
        "recipient_phone": phone,
        "buyer_id": buyer_id,
    }
    where = [(column, value) for column, value in filters.items() if value]
    if not where:
        return []
    sql = " AND ".join(f"{column} = %s" for column, _value in where)
    with connection.cursor() as cursor:
        select = f"SELECT order_no FROM {table} WHERE {sql} ORDER BY id DESC LIMIT %s"  # noqa: S608
        cursor.execute(select, [value for _column, value in where] + [limit])
        return [row[0] for row in cursor.fetchall()]


def orders_restore(*, order_nos: list[str], actor: str) -> list[str]:
    """Bring archived orders back to the hot tables whole (idempotent: an order not in the
    archive is left alone). Returns the numbers restored."""
    table = archive_table(Order)
    if not order_nos or table not in connection.introspection.table_names():
        return []
    with transaction.atomic():
        marks = ", ".join(["%s"] * len(order_nos))
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, order_no FROM {table} WHERE order_no IN ({marks}) FOR UPDATE", list(order_nos))  # noqa: S608
            rows = cursor.fetchall()
        if not rows:
            return []
        order_ids = [row[0] for row in rows]
        lines = _select_ids(archive_table(OrderLine), "order_id", "id", order_ids)
        parcels = (
            sorted(set(_select_ids(archive_table(FulfillmentLine), "order_line_id", "fulfillment_id", lines)))
            if lines
            else []
        )
        _move(order_ids, parcels, _foreign_relations(), to_archive=False)
        restored = [row[1] for row in rows]
        # A detail looked up while the order was archived is remembered as missing.
        order_cache_invalidate_on_commit(restored)
    logger.info("orders_restore (%s): %s", actor, ", ".join(restored))
    return restored
