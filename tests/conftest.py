import json
import os
import uuid

import pytest
from django.core.cache import cache
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from apps.core import signatures

# Property tests draw the same examples on every run, so a CI failure reproduces on any
# machine; HYPOTHESIS_PROFILE=explore draws fresh ones when you go looking for bugs.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("explore", max_examples=500)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session", autouse=True)
def _sandbox_payment_keys():
    """The payment keys ``make demo`` generates, where the DEBUG settings look for them: the
    providers count as configured, as in development (tests that talk to a gateway start the
    sandbox)."""
    from django.conf import settings

    from apps.payments.sandbox.keys import ensure_sandbox_keys

    ensure_sandbox_keys(settings.VAR_DIR / "payments")


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty cache (nonces, rate limits, cached reads)."""
    cache.clear()
    yield


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def staff_client(admin_user) -> APIClient:
    client = APIClient()
    client.force_login(admin_user)
    return client


class SignedClient:
    """Sends requests signed as a shop's app, exactly as a platform would."""

    def __init__(self, shop, secret: str):
        self.shop = shop
        self.secret = secret
        self.client = APIClient()

    def request(self, method: str, path: str, data=None, headers: dict | None = None, **overrides):
        body = b"" if data is None else json.dumps(data).encode()
        signed = signatures.signed_headers(
            overrides.get("app_key", self.shop.app_key),
            overrides.get("secret", self.secret),
            method,
            path,
            body,
            nonce=overrides.get("nonce", uuid.uuid4().hex),
            timestamp=overrides.get("timestamp"),
        )
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in {**signed, **(headers or {})}.items()}
        return self.client.generic(method, path, body, content_type="application/json", **extra)

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data=None, **kwargs):
        return self.request("POST", path, data, **kwargs)


@pytest.fixture(scope="session")
def own_redis():
    """A Redis server of the test session's own, which a test may kill and start again
    (it must leave it running)."""
    from tests.servers import RedisServer

    server = RedisServer()
    server.start()
    yield server
    server.stop()
