"""A database that stops answering (connections hang): requests fail within the connect/read
timeouts the settings give mysqlclient, as 503s, not after gunicorn's 60 s; /readyz says not
ready. MariaDB is reached through a TCP proxy of the test's own, which it freezes."""

import time

import pytest
from django.conf import settings
from django.db import OperationalError, connection

from tests.servers import FreezableProxy

TIMEOUT = 2  # seconds, in place of the production defaults (DB_*_TIMEOUT_SECONDS)


@pytest.fixture
def frozen_database():
    """The default connection goes through a proxy, with the settings' timeouts shortened."""
    proxy = FreezableProxy(
        int(connection.settings_dict["PORT"] or 3306), connection.settings_dict["HOST"] or "127.0.0.1"
    )
    saved = {key: connection.settings_dict[key] for key in ("HOST", "PORT", "OPTIONS")}
    options = settings.DATABASES["default"]["OPTIONS"]
    connection.close()
    connection.settings_dict.update(
        HOST="127.0.0.1",
        PORT=str(proxy.port),
        OPTIONS={**options, "connect_timeout": TIMEOUT, "read_timeout": TIMEOUT, "write_timeout": TIMEOUT},
    )
    yield proxy
    proxy.thaw()
    connection.close()
    connection.settings_dict.update(saved)
    proxy.close()


def test_the_settings_give_mariadb_connections_connect_read_and_write_timeouts():
    options = settings.DATABASES["default"]["OPTIONS"]
    assert {"connect_timeout", "read_timeout", "write_timeout"} <= set(options)
    assert all(0 < options[name] < 60 for name in ("connect_timeout", "read_timeout", "write_timeout"))


@pytest.mark.django_db(transaction=True)
def test_requests_and_readyz_answer_503_in_bounded_time_while_the_database_hangs(frozen_database, signed, client):
    assert client.get("/readyz").status_code == 200  # through the proxy, before it freezes
    connection.ensure_connection()
    frozen_database.freeze()

    began = time.monotonic()
    with pytest.raises(OperationalError):  # a query on a connection already open
        connection.cursor().execute("SELECT 1")
    connection.close()
    ready = client.get("/readyz")
    api = signed.get("/api/v1/orders")
    elapsed = time.monotonic() - began

    assert ready.status_code == 503
    assert ready.json()["checks"]["database"]["status"] == "error"
    assert api.status_code == 503
    assert api.json()["code"] == "dependency_unavailable"
    assert api.json()["details"] == {"dependency": "database"}
    assert int(api["Retry-After"]) > 0
    # three waits on a hung server, each ended by a timeout (a read may be retried up to
    # three times by the client library): far from gunicorn's 60 s
    assert elapsed < 9 * TIMEOUT + 5
