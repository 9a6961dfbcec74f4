"""The search indexer: an outbox batch consumer run by the Celery outbox relay.

Each batch of order, fulfillment and after-sale events becomes ONE bulk request carrying
the orders' current database state (not the event payloads), externally versioned by
``Order.version``. If Elasticsearch is down the handler raises, the outbox keeps the whole
batch pending and retries it with backoff; nothing is lost and the database is untouched.
"""

from django.conf import settings

from apps.core.models import OutboxEvent
from apps.core.outbox import outbox_consumer


def order_nos_in(events: list[OutboxEvent]) -> list[str]:
    """Order numbers the events touch: ``order_no`` (orders, after-sales) or ``order_nos``
    (fulfillments, which may carry several merged orders)."""
    found: set[str] = set()
    for event in events:
        payload = event.payload or {}
        if payload.get("order_no"):
            found.add(str(payload["order_no"]))
        found.update(str(order_no) for order_no in payload.get("order_nos") or ())
    return sorted(found)


@outbox_consumer("search.index", topics=["order.*", "fulfillment.*", "aftersale.*"], batch=True, retry_forever=True)
def search_index_consumer(events: list[OutboxEvent]) -> None:
    if settings.SEARCH_BACKEND != "elasticsearch":
        return
    from apps.orders.search.elastic import ElasticsearchBackend

    ElasticsearchBackend().index(order_nos_in(events))
