"""The Elasticsearch backend at its contract, against a fake ES 8 on loopback (the real
client and transport run; only the cluster is a stand-in)."""

from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.core.models import OutboxDelivery
from apps.core.outbox import outbox_publish, outbox_relay
from apps.orders.models import Order
from apps.orders.search import OrderQuery, get_backend
from apps.orders.search.base import encode_cursor
from apps.orders.search.documents import index_body
from apps.orders.search.elastic import ElasticsearchBackend, SearchIndexError
from apps.orders.search.indexer import search_index_check, search_index_rebuild
from tests.orders.search.factories import OrderFactory, SkuFactory, WarehouseFactory, add_fulfillment, add_line

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def query_body(**filters) -> dict:
    return ElasticsearchBackend().build_search(OrderQuery(**filters)).to_dict()


def bulk_lines(fake) -> list[list[dict]]:
    return [call.ndjson for call in fake.calls("PUT", "_bulk") + fake.calls("POST", "_bulk")]


def test_mapping_keywords_cjk_text_and_scaled_amounts():
    mapping = index_body("oms-orders-v3")["mappings"]["properties"]
    for name in ("order_no", "platform_order_id", "phone", "buyer_id", "status", "shop_id", "platform"):
        assert mapping[name] == {"type": "keyword"}, name
    assert mapping["warehouse_ids"] == {"type": "keyword"}
    assert mapping["sku_codes"] == {"type": "keyword"}
    for name in ("product_names", "address"):
        assert mapping[name]["type"] == "text"
        assert mapping[name]["analyzer"] == "cjk"
        assert mapping[name]["fields"]["raw"]["type"] == "keyword"
    for name in ("payable_amount", "paid_amount", "refunded_amount"):
        assert mapping[name] == {"type": "scaled_float", "scaling_factor": 100}
    for name in ("created_at", "paid_at", "shipped_at", "updated_at"):
        assert mapping[name] == {"type": "date"}
    assert mapping["version"] == {"type": "long"}


class TestQueryBodies:
    @pytest.fixture(autouse=True)
    def _es(self, settings):
        settings.ELASTICSEARCH_URL = "http://127.0.0.1:9"
        settings.ELASTICSEARCH_INDEX_PREFIX = "oms"

    @pytest.mark.parametrize(
        ("filters", "clause"),
        [
            ({"order_no": "20250101000000000001"}, {"term": {"order_no": "20250101000000000001"}}),
            ({"platform_order_id": "TB-9"}, {"term": {"platform_order_id": "TB-9"}}),
            ({"phone": "13800000001"}, {"term": {"phone": "13800000001"}}),
            ({"buyer_id": "alice"}, {"term": {"buyer_id": "alice"}}),
            ({"sku_code": "TEA-001"}, {"term": {"sku_codes": "TEA-001"}}),
            ({"statuses": ("paid", "shipped")}, {"terms": {"status": ["paid", "shipped"]}}),
            ({"shop_id": 7}, {"term": {"shop_id": "7"}}),
            ({"warehouse_id": 3}, {"term": {"warehouse_ids": "3"}}),
            ({"product_name": "龙井"}, {"match_phrase": {"product_names": "龙井"}}),
        ],
    )
    def test_each_filter_is_a_filter_clause(self, filters, clause):
        body = query_body(**filters)
        assert body["query"] == {"bool": {"filter": [clause]}}

    def test_created_range_is_half_open(self):
        start = datetime(2025, 3, 1, tzinfo=SHANGHAI)
        body = query_body(created_from=start, created_to=start + timedelta(days=1))
        assert body["query"]["bool"]["filter"] == [
            {"range": {"created_at": {"gte": "2025-03-01T00:00:00+08:00", "lt": "2025-03-02T00:00:00+08:00"}}}
        ]

    def test_free_text_should_clauses(self):
        body = query_body(q=" 龙井 ")
        should = body["query"]["bool"]["should"]
        assert {"term": {"phone": "龙井"}} in should
        assert {"term": {"sku_codes": "龙井"}} in should
        assert {"match": {"product_names": {"query": "龙井", "operator": "and"}}} in should
        assert body["query"]["bool"]["minimum_should_match"] == 1

    def test_one_character_finds_it_inside_names_the_cjk_analyzer_split_into_bigrams(self):
        # "保温杯" is indexed as the bigrams 保温 / 温杯: a match on "杯" would find nothing,
        # while the database backend's icontains finds it
        wildcard = {"wildcard": {"product_names.raw": {"value": "*杯*", "case_insensitive": True}}}
        should = query_body(q=" 杯 ")["query"]["bool"]["should"]
        assert wildcard in should
        assert not any("match" in clause for clause in should)
        assert query_body(product_name="杯")["query"] == {"bool": {"filter": [wildcard]}}

    def test_a_one_character_wildcard_is_taken_literally(self):
        clause = query_body(product_name="*")["query"]["bool"]["filter"][0]
        assert clause["wildcard"]["product_names.raw"]["value"] == "*\\**"
        clause = query_body(product_name="?")["query"]["bool"]["filter"][0]
        assert clause["wildcard"]["product_names.raw"]["value"] == "*\\?*"

    def test_sort_page_size_cursor_and_no_source(self):
        cursor = encode_cursor("elasticsearch", [1740794400000, "20250101000000000009"])
        body = query_body(sort="payable_amount", size=25, cursor=cursor)
        assert body["sort"] == [{"payable_amount": {"order": "asc"}}, {"order_no": {"order": "asc"}}]
        assert body["size"] == 26
        assert body["search_after"] == [1740794400000, "20250101000000000009"]
        assert body["_source"] is False
        assert body["track_total_hits"] is True

    def test_default_sort_is_newest_first_and_combined_filters(self):
        body = query_body(buyer_id="alice", statuses=("paid",))
        assert body["sort"] == [{"created_at": {"order": "desc"}}, {"order_no": {"order": "desc"}}]
        assert body["query"]["bool"]["filter"] == [{"term": {"buyer_id": "alice"}}, {"terms": {"status": ["paid"]}}]


def _indexable_order(**kwargs) -> Order:
    order = OrderFactory(**kwargs)
    add_line(order, sku=SkuFactory(code=f"SKU-{order.order_no[-4:]}"), name="西湖龙井 250g", quantity=2)
    add_fulfillment(order, warehouse=WarehouseFactory())
    return order


def test_bulk_body_uses_external_version_from_the_database(fake_es_server):
    first, second = _indexable_order(version=5), _indexable_order(version=1)
    indexed = ElasticsearchBackend().index([second.order_no, first.order_no])
    assert indexed == 2
    (lines,) = bulk_lines(fake_es_server)
    assert lines[0] == {
        "index": {"_index": "test-orders", "_id": first.order_no, "version": 5, "version_type": "external"}
    }
    assert lines[2]["index"]["version"] == 1
    source = lines[1]
    assert source["order_no"] == first.order_no
    assert source["product_names"] == ["西湖龙井 250g"]
    assert source["sku_codes"] == [first.lines.get().sku_code]
    assert source["warehouse_ids"] == [str(first.lines.get().fulfillment_lines.get().fulfillment.warehouse_id)]
    assert source["payable_amount"] == "100.00"
    assert source["version"] == 5


def test_stale_version_conflicts_are_not_errors_but_other_failures_are(fake_es_server):
    fresh, stale = _indexable_order(), _indexable_order()
    fake_es_server.bulk_statuses[stale.order_no] = 409
    assert ElasticsearchBackend().index([fresh.order_no, stale.order_no]) == 1
    fake_es_server.bulk_statuses[stale.order_no] = 400
    with pytest.raises(SearchIndexError):
        ElasticsearchBackend().index([fresh.order_no, stale.order_no])


def test_a_deleted_order_is_removed_from_the_index(fake_es_server):
    assert ElasticsearchBackend().index(["20990101000000000000"]) == 1
    (lines,) = bulk_lines(fake_es_server)
    assert lines == [{"delete": {"_index": "test-orders", "_id": "20990101000000000000"}}]


def test_client_retries_a_dropped_connection(fake_es_server):
    order = _indexable_order()
    fake_es_server.drop_next = 1
    assert ElasticsearchBackend().index([order.order_no]) == 1
    attempts = fake_es_server.calls("PUT", "_bulk") + fake_es_server.calls("POST", "_bulk")
    assert [call.body == "<dropped>" for call in attempts] == [True, False]


def _publish(order: Order, topic: str = "order.updated", **payload) -> None:
    with transaction.atomic():
        outbox_publish(
            topic=topic,
            aggregate_type="order",
            aggregate_id=order.order_no,
            payload={"order_no": order.order_no, "version": order.version, **payload},
        )


def test_outbox_consumer_sends_one_bulk_for_a_batch_with_current_versions(fake_es_server):
    a, b = _indexable_order(version=2), _indexable_order(version=1)
    _publish(a)
    _publish(b)
    Order.objects.filter(pk=a.pk).update(version=4)  # a newer change whose event is still coming
    with transaction.atomic():
        outbox_publish(
            topic="fulfillment.shipped",
            aggregate_type="fulfillment",
            aggregate_id="F1",
            payload={"fulfillment_no": "F1", "order_nos": [a.order_no, b.order_no]},
        )
    outbox_relay()
    (lines,) = bulk_lines(fake_es_server)
    versions = {line["index"]["_id"]: line["index"]["version"] for line in lines[::2]}
    assert versions == {a.order_no: 4, b.order_no: 1}
    assert set(OutboxDelivery.objects.filter(consumer="search.index").values_list("status", flat=True)) == {"delivered"}


def test_outbox_consumer_does_nothing_with_the_database_backend(settings):
    settings.SEARCH_BACKEND = "database"
    _publish(_indexable_order())
    outbox_relay()
    delivery = OutboxDelivery.objects.get(consumer="search.index")
    assert delivery.status == "delivered"


def test_elasticsearch_down_keeps_the_events_for_a_retry_with_backoff(closed_port_es, settings):
    order = _indexable_order(status="paid")
    _publish(order)
    outbox_relay()
    delivery = OutboxDelivery.objects.get(consumer="search.index")
    assert delivery.status == "pending"
    assert delivery.attempts == 1
    assert "ConnectionError" in delivery.last_error
    assert delivery.next_attempt_at > timezone.now()
    assert Order.objects.filter(pk=order.pk, status="paid", version=order.version).exists()

    # The cluster comes back; once the backoff has passed the same event is delivered.
    from tests.orders.search import fake_es

    fake, server = fake_es.serve()
    try:
        settings.ELASTICSEARCH_URL = f"http://127.0.0.1:{server.server_address[1]}"
        OutboxDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        outbox_relay()
        delivery.refresh_from_db()
        assert delivery.status == "delivered"
        (lines,) = bulk_lines(fake)
        assert lines[0]["index"]["_id"] == order.order_no
    finally:
        server.shutdown()
        server.server_close()


def test_search_returns_order_numbers_in_hit_order_with_a_cursor(fake_es_server):
    fake_es_server.search_total = 3
    fake_es_server.search_hits = [
        {"_index": "test-orders-v1", "_id": no, "_score": None, "sort": [1740794400000 - i, no]}
        for i, no in enumerate(["20250301000000000003", "20250301000000000002", "20250301000000000001"])
    ]
    result = get_backend().search(OrderQuery(statuses=("paid",), size=2))
    assert result.order_nos == ["20250301000000000003", "20250301000000000002"]
    assert result.total == 3
    assert result.backend == "elasticsearch"
    (call,) = fake_es_server.calls("POST", "/test-orders/_search")
    assert call.body["query"] == {"bool": {"filter": [{"terms": {"status": ["paid"]}}]}}
    assert call.body["size"] == 3

    get_backend().search(OrderQuery(statuses=("paid",), size=2, cursor=result.next_cursor))
    assert fake_es_server.calls("POST", "_search")[-1].body["search_after"] == [
        1740794400000 - 1,
        "20250301000000000002",
    ]


def test_search_falls_back_to_the_database_when_elasticsearch_is_unreachable(closed_port_es):
    mine = OrderFactory(buyer_id="carol")
    OrderFactory(buyer_id="dave")
    result = get_backend().search(OrderQuery(buyer_id="carol", size=1))
    assert result.order_nos == [mine.order_no]
    assert result.backend == "database"
    assert result.extra == {"fallback": True}

    es_cursor = encode_cursor("elasticsearch", [1, "x"])
    with pytest.raises(ApplicationError) as exc:
        get_backend().search(OrderQuery(cursor=es_cursor))
    assert exc.value.code == "invalid_cursor"


def test_paging_that_began_on_the_fallback_continues_there(fake_es_server):
    made = [OrderFactory(buyer_id="erin") for _ in range(3)]
    db_cursor = encode_cursor("database", [made[1].created_at.isoformat(), made[1].id])
    result = get_backend().search(OrderQuery(buyer_id="erin", cursor=db_cursor))
    assert result.order_nos == [made[0].order_no]
    assert fake_es_server.calls("POST", "_search") == []


def test_rebuild_loads_a_new_version_and_swaps_the_alias_atomically(fake_es_server):
    fake_es_server.aliases = {"test-orders-v1": ["test-orders"]}
    orders = [_indexable_order() for _ in range(3)]
    result = search_index_rebuild(actor="test", chunk_size=2)
    assert result.index == "test-orders-v2"
    assert result.previous == ["test-orders-v1"]
    assert result.indexed == 3

    methods = [(r.method, r.path) for r in fake_es_server.requests if r.path != "/"]
    create = methods.index(("PUT", "/test-orders-v2"))
    swap = methods.index(("POST", "/_aliases"))
    drop = methods.index(("DELETE", "/test-orders-v1"))
    loads = [i for i, call in enumerate(fake_es_server.requests) if call.path.endswith("_bulk")]
    assert create < min(loads) and max(loads[:2]) < swap < drop

    created = fake_es_server.calls("PUT", "/test-orders-v2")[0].body
    assert created["mappings"]["properties"]["product_names"]["analyzer"] == "cjk"
    load_batches = bulk_lines(fake_es_server)[:2]
    assert [len(batch) // 2 for batch in load_batches] == [2, 1]
    assert {line["index"]["_index"] for batch in load_batches for line in batch[::2]} == {"test-orders-v2"}
    assert {line["index"]["_id"] for batch in load_batches for line in batch[::2]} == {o.order_no for o in orders}

    (swap_call,) = fake_es_server.calls("POST", "/_aliases")
    assert swap_call.body == {
        "actions": [
            {"remove": {"index": "test-orders-v1", "alias": "test-orders"}},
            {"add": {"index": "test-orders-v2", "alias": "test-orders"}},
        ]
    }
    assert fake_es_server.aliases == {"test-orders-v2": ["test-orders"]}


def test_first_rebuild_replaces_an_index_squatting_the_alias_name(fake_es_server):
    fake_es_server.aliases = {"test-orders": []}
    result = search_index_rebuild(actor="test")
    assert result.index == "test-orders-v1"
    (swap_call,) = fake_es_server.calls("POST", "/_aliases")
    assert swap_call.body["actions"] == [
        {"remove_index": {"index": "test-orders"}},
        {"add": {"index": "test-orders-v1", "alias": "test-orders"}},
    ]


def test_check_compares_counts_and_a_sample(fake_es_server):
    orders = [OrderFactory(status="paid", version=v) for v in (1, 2)]
    fake_es_server.count = 2
    fake_es_server.documents = {o.order_no: {"status": o.status, "version": o.version} for o in orders}
    result = search_index_check(sample_size=10)
    assert result.ok
    assert result.sampled == 2
    call_command("search_index", "--check", stdout=StringIO())

    fake_es_server.documents[orders[1].order_no]["version"] = 1
    result = search_index_check(sample_size=10)
    assert not result.ok
    assert result.mismatches == [
        {
            "order_no": orders[1].order_no,
            "database": {"status": "paid", "version": 2},
            "index": {"status": "paid", "version": 1},
        }
    ]
    with pytest.raises(CommandError):
        call_command("search_index", "--check", stdout=StringIO())


def test_check_fails_on_a_count_mismatch(fake_es_server):
    order = OrderFactory()
    fake_es_server.count = 0
    fake_es_server.documents = {order.order_no: {"status": order.status, "version": order.version}}
    assert not search_index_check().ok


def test_readiness_reports_search_degraded_until_the_alias_exists(client, fake_es_server):
    response = client.get("/readyz")  # no alias yet: searches fall back to the database
    assert (response.status_code, response.json()["status"]) == (200, "degraded")
    assert response.json()["checks"]["search"]["status"] == "degraded"
    fake_es_server.aliases = {"test-orders-v1": ["test-orders"]}
    response = client.get("/readyz")
    assert (response.status_code, response.json()["status"]) == (200, "ok")
    assert response.json()["checks"]["search"]["status"] == "ok"


def test_readiness_reports_an_unreachable_cluster(client, closed_port_es):
    response = client.get("/readyz")
    assert response.status_code == 200
    check = response.json()["checks"]["search"]
    assert check["status"] == "degraded"
    assert "ConnectionError" in check["error"]


def test_create_if_missing_builds_the_index_once(fake_es_server):
    orders = [_indexable_order() for _ in range(2)]
    out = StringIO()
    call_command("search_index", "--create-if-missing", stdout=out)
    assert "test-orders-v1: 2 orders loaded" in out.getvalue()
    assert fake_es_server.aliases == {"test-orders-v1": ["test-orders"]}
    loaded = {line["index"]["_id"] for batch in bulk_lines(fake_es_server) for line in batch[::2]}
    assert loaded == {o.order_no for o in orders}

    fake_es_server.requests.clear()
    out = StringIO()
    call_command("search_index", "--create-if-missing", stdout=out)
    assert "nothing to do" in out.getvalue()
    assert fake_es_server.aliases == {"test-orders-v1": ["test-orders"]}
    assert [r for r in fake_es_server.requests if r.method in ("PUT", "POST", "DELETE")] == []
