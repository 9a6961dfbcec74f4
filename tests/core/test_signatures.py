import json
import time
import uuid

import pytest

from apps.core import signatures
from apps.shops.authentication import shops_changed
from tests.conftest import SignedClient
from tests.core.factories import ShopFactory

pytestmark = [pytest.mark.urls("tests.core.urls"), pytest.mark.django_db]


@pytest.fixture
def shop():
    return ShopFactory(secret="s3cret")


@pytest.fixture
def signed(shop):
    return SignedClient(shop, "s3cret")


def test_a_correctly_signed_request_acts_as_its_shop(signed, shop):
    response = signed.post("/whoami", {"hello": "world"})
    assert response.status_code == 200
    assert response.json() == {"shop": shop.code, "operator": f"shop:{shop.code}"}


def test_a_tampered_body_is_refused(signed, shop):
    body = json.dumps({"amount": "1.00"}).encode()
    headers = signatures.signed_headers(shop.app_key, "s3cret", "POST", "/whoami", body, nonce=uuid.uuid4().hex)
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    tampered = json.dumps({"amount": "1000.00"}).encode()
    response = signed.client.generic("POST", "/whoami", tampered, content_type="application/json", **extra)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_a_wrong_secret_is_refused(signed):
    response = signed.post("/whoami", {}, secret="not-the-secret")
    assert response.status_code == 401


def test_an_unknown_app_key_is_refused(signed):
    response = signed.post("/whoami", {}, app_key="nobody")
    assert response.status_code == 401


def test_a_shop_without_a_secret_refuses_every_signature(signed, shop):
    shop.app_secret_encrypted = ""
    shop.save(update_fields=["app_secret_encrypted"])
    assert signed.post("/whoami", {}, secret="").status_code == 401


def test_an_inactive_shop_is_refused(signed, shop):
    shop.is_active = False
    shop.save(update_fields=["is_active"])
    assert signed.post("/whoami", {}).status_code == 401


def test_a_stale_timestamp_is_refused(signed, settings):
    settings.API_SIGNATURE_MAX_SKEW_SECONDS = 300
    assert signed.post("/whoami", {}, timestamp=int(time.time()) - 301).status_code == 401
    # int() drops up to a second, so a timestamp just past the future edge can land inside it.
    assert signed.post("/whoami", {}, timestamp=int(time.time()) + 302).status_code == 401
    assert signed.post("/whoami", {}, timestamp=int(time.time()) - 200).status_code == 200


def test_a_replayed_nonce_is_refused(signed):
    assert signed.post("/whoami", {}, nonce="nonce-1").status_code == 200
    assert signed.post("/whoami", {}, nonce="nonce-1").status_code == 401
    assert signed.post("/whoami", {}, nonce="nonce-2").status_code == 200


def test_a_request_without_signature_headers_is_not_authenticated(signed):
    response = signed.client.post("/whoami", {}, format="json")
    assert response.status_code in (401, 403)


def test_a_known_shop_is_authenticated_without_sql(signed, django_assert_num_queries):
    assert signed.post("/whoami", {}).status_code == 200
    with django_assert_num_queries(0):
        response = signed.post("/whoami", {})
    assert response.status_code == 200
    assert response.json()["shop"] == signed.shop.code


def test_a_shop_deactivated_after_it_was_seen_is_refused(signed, shop):
    assert signed.post("/whoami", {}).status_code == 200
    shop.is_active = False
    shop.save(update_fields=["is_active"])
    assert signed.post("/whoami", {}).status_code == 401


def test_a_new_secret_takes_effect_for_a_shop_already_seen(signed, shop):
    assert signed.post("/whoami", {}).status_code == 200
    shop.set_app_secret("n3w-secret")
    shop.save(update_fields=["app_secret_encrypted"])
    assert signed.post("/whoami", {}).status_code == 401
    assert signed.post("/whoami", {}, secret="n3w-secret").status_code == 200


def test_a_change_committed_by_another_process_is_seen(signed, shop, django_capture_on_commit_callbacks):
    assert signed.post("/whoami", {}).status_code == 200
    # Another process changes the row and bumps the shared version on commit: this process
    # has not seen the change (its own signal never ran) and must read the shop again.
    with django_capture_on_commit_callbacks(execute=True):
        type(shop).objects.filter(pk=shop.pk).update(is_active=False)
        shops_changed()
    assert signed.post("/whoami", {}).status_code == 401
