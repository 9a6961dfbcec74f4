"""The Elasticsearch backend (elasticsearch-dsl): queries, bulk indexing, the client.

Writes are bulk requests with ``version_type=external`` and ``version=order.version``:
Elasticsearch itself refuses a document older than the one it holds (409), so events may
arrive late, twice or out of order and the index still converges on the newest state.
Reads that cannot reach the cluster fall back to the database backend, so order search
degrades (slower, fewer fuzzy matches) instead of failing.
"""

import logging
import re
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Prefetch
from elasticsearch import ApiError, Elasticsearch, TransportError
from elasticsearch.dsl import Q, Search

from apps.orders.models import FulfillmentLine, Order, OrderLine
from apps.orders.search.base import (
    OrderQuery,
    SearchBackend,
    SearchResult,
    cursor_backend,
    decode_cursor,
    encode_cursor,
    invalid_cursor,
)
from apps.orders.search.database import DatabaseBackend
from apps.orders.search.documents import OrderDocument, alias_name

logger = logging.getLogger(__name__)

_clients: dict[tuple, Elasticsearch] = {}


class SearchIndexError(Exception):
    """Elasticsearch refused part of a bulk request for a reason other than a stale version."""


class ClusterRed(Exception):
    """Some primary shards of the order index are unassigned: searches fall back to the database."""


def es_hosts() -> list[str]:
    """``ELASTICSEARCH_URL``: one node URL, or several separated by commas (a cluster)."""
    return [url.strip() for url in settings.ELASTICSEARCH_URL.split(",") if url.strip()]


def es_client() -> Elasticsearch:
    """One client per process and configuration (it pools its HTTP connections).

    Requests go round the listed nodes; a node that fails is set aside for a while and the
    request retried on another, up to ``ELASTICSEARCH_MAX_RETRIES`` times before the caller
    sees the error. ``ELASTICSEARCH_API_KEY`` authenticates, ``ELASTICSEARCH_CA_CERTS``
    verifies the cluster's certificates on https URLs.
    """
    key = (
        settings.ELASTICSEARCH_URL,
        settings.ELASTICSEARCH_TIMEOUT_SECONDS,
        settings.ELASTICSEARCH_MAX_RETRIES,
        settings.ELASTICSEARCH_API_KEY,
        settings.ELASTICSEARCH_CA_CERTS,
    )
    client = _clients.get(key)
    if client is None:
        options = {}
        api_key = settings.ELASTICSEARCH_API_KEY
        if api_key:
            # "id:key" as Kibana shows it, or the encoded form (base64 has no colon).
            options["api_key"] = tuple(api_key.split(":", 1)) if ":" in api_key else api_key
        if settings.ELASTICSEARCH_CA_CERTS:
            options["ca_certs"] = settings.ELASTICSEARCH_CA_CERTS
        client = Elasticsearch(
            es_hosts(),
            request_timeout=settings.ELASTICSEARCH_TIMEOUT_SECONDS,
            max_retries=settings.ELASTICSEARCH_MAX_RETRIES,
            retry_on_timeout=True,
            **options,
        )
        _clients[key] = client
    return client


def orders_for_indexing():
    """Orders with everything their document needs, in a fixed number of queries."""
    return Order.objects.prefetch_related(
        Prefetch(
            "lines",
            queryset=OrderLine.objects.prefetch_related(
                Prefetch("fulfillment_lines", queryset=FulfillmentLine.objects.select_related("fulfillment"))
            ),
        )
    )


def bulk_actions(orders: Iterable[Order], *, index: str) -> list[dict]:
    """Action and source lines for ``_bulk``: one externally versioned ``index`` per order."""
    operations: list[dict] = []
    for order in orders:
        operations.append(
            {"index": {"_index": index, "_id": order.order_no, "version": order.version, "version_type": "external"}}
        )
        operations.append(OrderDocument.from_order(order).to_dict())
    return operations


def send_bulk(operations: list[dict]) -> dict:
    """Send one bulk request; count what happened. Stale versions (409) and deleting a missing
    document (404) are expected outcomes, anything else raises ``SearchIndexError``."""
    if not operations:
        return {"indexed": 0, "stale": 0, "deleted": 0}
    response = es_client().bulk(operations=operations)
    outcome = {"indexed": 0, "stale": 0, "deleted": 0}
    failures = []
    for item in response["items"]:
        action, result = next(iter(item.items()))
        status = result.get("status", 500)
        if 200 <= status < 300:
            outcome["deleted" if action == "delete" else "indexed"] += 1
        elif status == 409:
            outcome["stale"] += 1
        elif status == 404 and action == "delete":
            outcome["deleted"] += 1
        else:
            failures.append({"id": result.get("_id"), "status": status, "error": result.get("error")})
    if failures:
        raise SearchIndexError(f"{len(failures)} bulk item(s) failed: {failures[:5]}")
    return outcome


def _product_name_clause(text: str, *, match: str) -> Q:
    """Product names are indexed with the ``cjk`` analyzer, which keeps CJK bigrams only: a
    one-character query ("杯") would never match "保温杯" the way the database's ``icontains``
    does. One character is therefore looked up as a case-insensitive substring of the whole
    names (the ``raw`` keyword subfield: one term per distinct name, a short scan)."""
    if len(text) == 1:
        pattern = "*" + re.sub(r"([*?\\])", r"\\\1", text) + "*"
        return Q("wildcard", **{"product_names.raw": {"value": pattern, "case_insensitive": True}})
    if match == "match":
        return Q("match", product_names={"query": text, "operator": "and"})
    return Q("match_phrase", product_names=text)


class ElasticsearchBackend(SearchBackend):
    name = "elasticsearch"

    def build_search(self, query: OrderQuery) -> Search:
        """The elasticsearch-dsl search for ``query`` (one page, sorted, after the cursor)."""
        search = Search(using=es_client(), index=alias_name())
        if query.q:
            term = query.q.strip()
            search = search.query(
                Q(
                    "bool",
                    should=[
                        *(
                            Q("term", **{name: term})
                            for name in ("order_no", "platform_order_id", "phone", "buyer_id", "sku_codes")
                        ),
                        _product_name_clause(term, match="match"),
                    ],
                    minimum_should_match=1,
                )
            )
        exact = {
            "order_no": query.order_no,
            "platform_order_id": query.platform_order_id,
            "phone": query.phone,
            "buyer_id": query.buyer_id,
            "sku_codes": query.sku_code,
        }
        for name, value in exact.items():
            if value:
                search = search.filter("term", **{name: value})
        if query.statuses:
            search = search.filter("terms", status=list(query.statuses))
        if query.shop_id is not None:
            search = search.filter("term", shop_id=str(query.shop_id))
        if query.warehouse_id is not None:
            search = search.filter("term", warehouse_ids=str(query.warehouse_id))
        created = {}
        if query.created_from is not None:
            created["gte"] = query.created_from.isoformat()
        if query.created_to is not None:
            created["lt"] = query.created_to.isoformat()
        if created:
            search = search.filter("range", created_at=created)
        if query.product_name:
            search = search.filter(_product_name_clause(query.product_name, match="match_phrase"))
        order = "desc" if query.descending else "asc"
        search = search.sort({query.sort_field: {"order": order}}, {"order_no": {"order": order}})
        extra = {"size": query.size + 1, "track_total_hits": True}
        if query.cursor:
            extra["search_after"] = decode_cursor(self.name, query.cursor)
        return search.extra(**extra).source(False)

    def search(self, query: OrderQuery) -> SearchResult:
        if query.cursor and cursor_backend(query.cursor) == DatabaseBackend.name:
            # Paging that began on the fallback goes on there, so its pages stay consistent.
            return self._fallback(query)
        search = self.build_search(query)
        try:
            response = search.execute()
        except (TransportError, ApiError):
            logger.exception("order search: Elasticsearch failed; answering from the database")
            if query.cursor:
                # An Elasticsearch cursor means nothing to the database: the caller restarts.
                raise invalid_cursor() from None
            return self._fallback(query)
        if response._shards.failed:
            # A red cluster answers with the shards it still has: an incomplete list of
            # orders would look complete, so the database answers instead.
            logger.error("order search: %s shards failed; answering from the database", response._shards.failed)
            if query.cursor:
                raise invalid_cursor()
            return self._fallback(query)
        hits = list(response.hits)
        next_cursor = None
        if len(hits) > query.size:
            hits = hits[: query.size]
            next_cursor = encode_cursor(self.name, list(hits[-1].meta.sort))
        return SearchResult(
            order_nos=[hit.meta.id for hit in hits],
            next_cursor=next_cursor,
            total=response.hits.total.value,
            backend=self.name,
        )

    @staticmethod
    def _fallback(query: OrderQuery) -> SearchResult:
        result = DatabaseBackend().search(query)
        return SearchResult(
            order_nos=result.order_nos,
            next_cursor=result.next_cursor,
            total=result.total,
            backend=result.backend,
            extra={"fallback": True},
        )

    def index(self, order_nos: Iterable[str]) -> int:
        wanted = set(order_nos)
        if not wanted:
            return 0
        orders = list(orders_for_indexing().filter(order_no__in=wanted).order_by("id"))
        operations = bulk_actions(orders, index=alias_name())
        gone = wanted - {order.order_no for order in orders}
        operations += [{"delete": {"_index": alias_name(), "_id": order_no}} for order_no in sorted(gone)]
        outcome = send_bulk(operations)
        return outcome["indexed"] + outcome["deleted"]

    def delete(self, order_nos: Iterable[str]) -> int:
        operations = [{"delete": {"_index": alias_name(), "_id": order_no}} for order_no in sorted(set(order_nos))]
        return send_bulk(operations)["deleted"]

    def ping(self) -> None:
        es_client().info()
        es_client().indices.get_alias(name=alias_name())
        if es_client().cluster.health(index=alias_name())["status"] == "red":
            raise ClusterRed(alias_name())
