"""Index maintenance services: rebuild behind the alias with no downtime, and check the
index against the database.

A rebuild loads a fresh ``v{N+1}`` while searches and the outbox indexer keep using the
alias (still on ``v{N}``), swaps the alias in one atomic ``_aliases`` call, deletes the old
index, then re-sends every order changed since the load began: external versions make that
catch-up safe, and it covers changes the indexer wrote to the old index during the load.
"""

import logging
import random
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Max, Min
from django.utils import timezone

from apps.orders.models import Order
from apps.orders.search.documents import alias_name, index_body, index_version, versioned_name
from apps.orders.search.elastic import ElasticsearchBackend, bulk_actions, es_client, orders_for_indexing, send_bulk

logger = logging.getLogger(__name__)

# Orders changed this close before the load began are re-sent too (clock skew between hosts).
CATCH_UP_MARGIN = timedelta(minutes=1)


@dataclass(frozen=True)
class RebuildResult:
    index: str
    previous: list[str]
    indexed: int
    caught_up: int


@dataclass(frozen=True)
class CheckResult:
    database_count: int
    index_count: int
    sampled: int
    mismatches: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.database_count == self.index_count and not self.mismatches


def _indices_behind_alias() -> tuple[list[str], bool]:
    """The indices the alias points at, and whether a concrete index squats the alias name
    (auto-created by a write that reached Elasticsearch before any rebuild)."""
    client = es_client()
    if client.indices.exists_alias(name=alias_name()):
        return sorted(client.indices.get_alias(name=alias_name()).body), False
    return [], bool(client.indices.exists(index=alias_name()))


def search_index_rebuild(*, actor: str, chunk_size: int | None = None) -> RebuildResult:
    """Build ``{prefix}-orders-v{N+1}`` from the database and point the alias at it."""
    client = es_client()
    chunk_size = chunk_size or settings.SEARCH_INDEX_CHUNK_SIZE
    previous, squatter = _indices_behind_alias()
    existing = client.indices.get(index=f"{alias_name()}-v*", allow_no_indices=True, expand_wildcards="all").body
    number = max((index_version(name) or 0 for name in [*existing, *previous]), default=0) + 1
    new_index = versioned_name(number)
    logger.info("search index rebuild by %s: loading %s (alias now on %s)", actor, new_index, previous)
    client.indices.create(index=new_index, **index_body(new_index))

    started = timezone.now()
    indexed = 0
    last_id = 0
    while True:
        chunk = list(orders_for_indexing().filter(id__gt=last_id).order_by("id")[:chunk_size])
        if not chunk:
            break
        indexed += send_bulk(bulk_actions(chunk, index=new_index))["indexed"]
        last_id = chunk[-1].id

    actions = [{"remove": {"index": name, "alias": alias_name()}} for name in previous]
    if squatter:
        actions.append({"remove_index": {"index": alias_name()}})
    actions.append({"add": {"index": new_index, "alias": alias_name()}})
    client.indices.update_aliases(actions=actions)
    for name in previous:
        client.indices.delete(index=name)

    changed = Order.objects.filter(updated_at__gte=started - CATCH_UP_MARGIN).values_list("order_no", flat=True)
    caught_up = ElasticsearchBackend().index(list(changed))
    logger.info("search index rebuild by %s: %s live with %s orders", actor, new_index, indexed)
    return RebuildResult(index=new_index, previous=previous, indexed=indexed, caught_up=caught_up)


def search_index_ensure(*, actor: str, chunk_size: int | None = None) -> RebuildResult | None:
    """Build the index when the alias does not exist yet (a fresh deployment, or an index
    squatting the alias name); leave a live alias alone. Safe to run on every start."""
    if es_client().indices.exists_alias(name=alias_name()):
        return None
    return search_index_rebuild(actor=actor, chunk_size=chunk_size)


def search_index_check(*, sample_size: int = 100) -> CheckResult:
    """Compare the document count with the order count, and a random sample of orders
    (order number, status, version) with their documents."""
    client = es_client()
    database_count = Order.objects.count()
    index_count = client.count(index=alias_name())["count"]
    bounds = Order.objects.aggregate(low=Min("id"), high=Max("id"))
    sample: list[Order] = []
    if bounds["low"] is not None:
        population = range(bounds["low"], bounds["high"] + 1)
        picked = random.sample(population, min(sample_size, len(population)))
        sample = list(Order.objects.filter(id__in=picked).only("order_no", "status", "version"))
    mismatches = []
    if sample:
        response = client.mget(
            index=alias_name(), ids=[order.order_no for order in sample], source_includes=["status", "version"]
        )
        documents = {doc["_id"]: doc.get("_source") if doc.get("found") else None for doc in response["docs"]}
        for order in sample:
            document = documents.get(order.order_no)
            expected = {"status": order.status, "version": order.version}
            if document is None or {key: document.get(key) for key in expected} != expected:
                mismatches.append({"order_no": order.order_no, "database": expected, "index": document})
    return CheckResult(
        database_count=database_count, index_count=index_count, sampled=len(sample), mismatches=mismatches
    )
