import pytest
from django.test import override_settings

# Nothing listens on the discard port: a peer that refuses connections.
CLOSED_PORT = 9


def test_healthz_answers_without_touching_dependencies(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_200_with_mariadb_and_redis_up(client, settings):
    settings.WECHATPAY_MCHID = settings.ALIPAY_APP_ID = ""  # no payment provider in use

    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    for name in ("database", "cache", "broker"):
        assert body["checks"][name] == {"status": "ok", "required": True}
    assert body["checks"]["search"]["required"] is False
    assert body["checks"]["payment_providers"]["details"] == {"wechat": "not_configured", "alipay": "not_configured"}


@pytest.mark.django_db
def test_readyz_is_503_when_the_cache_is_down(client):
    down = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{CLOSED_PORT}/0",
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient", "SOCKET_CONNECT_TIMEOUT": 1},
        }
    }
    with override_settings(CACHES=down):
        response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["cache"]["status"] == "error"
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.django_db
def test_readyz_stays_ready_and_reports_search_degraded_when_elasticsearch_is_down(client):
    # searches fall back to the database, so an Elasticsearch outage must not take the web
    # process out of the load balancer (or keep `docker compose up` from becoming healthy)
    with override_settings(SEARCH_BACKEND="elasticsearch", ELASTICSEARCH_URL=f"http://127.0.0.1:{CLOSED_PORT}"):
        response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["checks"]["search"] == {"status": "degraded", "required": False, "error": "ConnectionError"}
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.django_db
def test_readyz_is_503_when_the_broker_is_down(client, monkeypatch):
    # Celery reads CELERY_BROKER_URL from the environment before its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", f"redis://127.0.0.1:{CLOSED_PORT}/0")
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["broker"]["status"] == "error"
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.django_db
def test_readyz_does_not_reveal_connection_details(client):
    port = CLOSED_PORT
    down = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://secret-user:secret-pass@127.0.0.1:{port}/0",
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient", "SOCKET_CONNECT_TIMEOUT": 1},
        }
    }
    with override_settings(CACHES=down):
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["cache"]["error"] == "ConnectionError"
    assert "secret" not in response.content.decode()
    assert f":{port}" not in response.content.decode()


@pytest.fixture
def extra_probe():
    from apps.core import health

    yield health.probe_register
    health.PROBES.pop("ledger-export", None)


@pytest.mark.django_db
def test_a_probe_an_app_registers_decides_readiness(client, extra_probe):
    def down():
        raise ConnectionRefusedError("ledger host unreachable")

    extra_probe("ledger-export", down)
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["ledger-export"] == {
        "status": "error",
        "required": True,
        "error": "ConnectionRefusedError",
    }


@pytest.mark.django_db
def test_the_owning_apps_register_broker_and_search(client):
    body = client.get("/readyz").json()
    assert {"broker", "search", "payment_providers"} <= set(body["checks"])
    assert body["search_backend"] == "database"
