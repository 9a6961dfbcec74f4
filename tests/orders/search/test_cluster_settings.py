"""An Elasticsearch cluster by settings: several node URLs, an API key, a CA certificate and
the index replicas; a red cluster's partial answer falls back to the database."""

import base64
import datetime
import socket

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from apps.core.exceptions import ApplicationError
from apps.orders.search import OrderQuery, get_backend
from apps.orders.search.base import encode_cursor
from apps.orders.search.elastic import es_client
from apps.orders.search.indexer import search_index_rebuild
from tests.orders.search.factories import OrderFactory

pytestmark = pytest.mark.django_db

HIT = {"_index": "test-orders-v1", "_id": "20250301000000000001", "_score": None, "sort": [1, "20250301000000000001"]}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ENCODED_KEY = base64.b64encode(b"key-id:key-secret").decode()


@pytest.mark.parametrize("api_key", ["key-id:key-secret", ENCODED_KEY])  # as Kibana shows it, or encoded
def test_searches_go_round_the_listed_nodes_past_a_dead_one_with_the_api_key(fake_es_server, settings, api_key):
    live = settings.ELASTICSEARCH_URL
    settings.ELASTICSEARCH_URL = f"http://127.0.0.1:{closed_port()}, {live}"
    settings.ELASTICSEARCH_API_KEY = api_key
    fake_es_server.search_total, fake_es_server.search_hits = 1, [HIT]

    results = [get_backend().search(OrderQuery(statuses=("paid",))) for _ in range(4)]

    assert {result.backend for result in results} == {"elasticsearch"}  # the dead node never surfaced
    assert {tuple(result.order_nos) for result in results} == {(HIT["_id"],)}
    searches = fake_es_server.calls("POST", "_search")
    assert len(searches) == 4
    assert {call.headers["authorization"] for call in searches} == {f"ApiKey {ENCODED_KEY}"}


def test_https_nodes_are_verified_with_the_configured_ca_certificate(settings, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "OMS test CA")])
    now = datetime.datetime.now(datetime.UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    settings.ELASTICSEARCH_URL = "https://es-1.internal:9200,https://es-2.internal:9200,https://es-3.internal:9200"
    settings.ELASTICSEARCH_CA_CERTS = str(ca_file)

    nodes = [node.config for node in es_client().transport.node_pool.all()]

    assert sorted((node.scheme, node.host, node.port) for node in nodes) == [
        ("https", f"es-{n}.internal", 9200) for n in (1, 2, 3)
    ]
    assert {(node.ca_certs, node.verify_certs) for node in nodes} == {(str(ca_file), True)}


def test_a_red_cluster_answering_with_failed_shards_falls_back_to_the_database(fake_es_server):
    mine = OrderFactory(buyer_id="carol")
    OrderFactory(buyer_id="dave")
    fake_es_server.search_failed_shards = 2
    fake_es_server.search_total, fake_es_server.search_hits = 1, [HIT]

    result = get_backend().search(OrderQuery(buyer_id="carol"))

    assert (result.backend, result.order_nos, result.extra) == ("database", [mine.order_no], {"fallback": True})
    with pytest.raises(ApplicationError) as exc:  # a cursor from Elasticsearch means nothing to the database
        get_backend().search(OrderQuery(buyer_id="carol", cursor=encode_cursor("elasticsearch", [1, "x"])))
    assert exc.value.code == "invalid_cursor"


def test_readiness_reports_a_red_cluster_as_degraded(client, fake_es_server):
    fake_es_server.aliases = {"test-orders-v1": ["test-orders"]}
    assert client.get("/readyz").json()["checks"]["search"]["status"] == "ok"
    fake_es_server.health = "red"
    response = client.get("/readyz")
    assert (response.status_code, response.json()["status"]) == (200, "degraded")
    assert response.json()["checks"]["search"] == {"status": "degraded", "required": False, "error": "ClusterRed"}


def test_a_rebuilt_index_has_the_configured_replicas_and_shards(fake_es_server, settings):
    settings.ELASTICSEARCH_REPLICAS = 2
    settings.ELASTICSEARCH_SHARDS = 3

    result = search_index_rebuild(actor="test")

    created = fake_es_server.calls("PUT", f"/{result.index}")[0].body
    assert (created["settings"]["number_of_replicas"], created["settings"]["number_of_shards"]) == (2, 3)
