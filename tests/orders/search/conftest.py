import socket

import pytest

from tests.orders.search import fake_es


@pytest.fixture
def fake_es_server(settings):
    """A fake ES 8 on loopback; settings point the search backend at it."""
    fake, server = fake_es.serve()
    settings.SEARCH_BACKEND = "elasticsearch"
    settings.ELASTICSEARCH_URL = f"http://127.0.0.1:{server.server_address[1]}"
    settings.ELASTICSEARCH_INDEX_PREFIX = "test"
    settings.ELASTICSEARCH_TIMEOUT_SECONDS = 2.0
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port_es(settings):
    """ELASTICSEARCH_URL pointing at a port nothing listens on: every request fails to connect."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.SEARCH_BACKEND = "elasticsearch"
    settings.ELASTICSEARCH_URL = f"http://127.0.0.1:{port}"
    settings.ELASTICSEARCH_INDEX_PREFIX = "test"
    settings.ELASTICSEARCH_MAX_RETRIES = 1
    return settings.ELASTICSEARCH_URL
