"""The API over real HTTP (gunicorn on loopback): signatures over escaped paths, oversized
requests answered in JSON, and the shipped client (clients/oms_client.py) driving a shop's
day: stock, pages of orders, search, and edits that name the version they were made on."""

import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import time
import uuid
from urllib.parse import quote, urlsplit

import pytest
import requests

from clients.oms_client import OmsApiError, sign
from tests.contract.conftest import BUYER, ODD_SKU_CODES, ROOT
from tests.orders.factories import SHOP_SECRET

pytestmark = pytest.mark.django_db


def send(live_api, method: str, target: str, *, headers=None, body: bytes = b"", signed_target: str | None = None):
    """Send ``target`` byte for byte (no client library re-escaping it), signed over
    ``signed_target`` (default: the target as sent)."""
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex
    signature = sign(SHOP_SECRET, method, signed_target or target, timestamp, nonce, body)
    url = urlsplit(live_api.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.putrequest(method, target, skip_accept_encoding=True)
    for name, value in {
        "X-App-Key": live_api.shop.app_key,
        "X-Timestamp": timestamp,
        "X-Nonce": nonce,
        "X-Signature": signature,
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        **(headers or {}),
    }.items():
        connection.putheader(name, value)
    connection.endheaders(body)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, response.getheader("Content-Type"), payload


def lower_escapes(text: str) -> str:
    return "%".join(part[:2].lower() + part[2:] if index else part for index, part in enumerate(text.split("%")))


@pytest.mark.parametrize("code", ODD_SKU_CODES)
def test_a_request_signed_over_its_escaped_path_is_served_whatever_the_escapes(live_api, code):
    escaped = quote(code, safe="")
    spellings = {escaped, lower_escapes(escaped), quote(code, safe="()*~")}
    assert len(spellings) >= 2
    for spelling in spellings:
        status, _, body = send(live_api, "GET", f"/api/v1/skus/{spelling}/stock")
        assert status == 200, (spelling, body)
        assert json.loads(body)["sku_code"] == code


def test_a_client_that_signs_the_upper_case_escaped_path_literally_is_served(live_api):
    """The canonical form of an already canonical target is itself: signing the string sent works."""
    target = "/api/v1/skus/%28x%29/stock"
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex
    message = f"GET\n{target}\n{timestamp}\n{nonce}\n{hashlib.sha256(b'').hexdigest()}".encode()
    headers = {
        "X-App-Key": live_api.shop.app_key,
        "X-Timestamp": timestamp,
        "X-Nonce": nonce,
        "X-Signature": hmac.new(SHOP_SECRET.encode(), message, hashlib.sha256).hexdigest(),
    }
    response = requests.get(f"{live_api.url}{target}", headers=headers, timeout=30)
    assert response.status_code == 200, response.text


def test_a_signature_over_another_path_is_refused(live_api):
    status, _, body = send(live_api, "GET", "/api/v1/skus/%28x%29/stock", signed_target="/api/v1/skus/x/stock")
    assert status == 401
    assert json.loads(body)["code"] == "authentication_failed"


@pytest.mark.parametrize(
    ("query_length", "who"), [(6_000, "the application"), (9_000, "gunicorn, past its request-line limit")]
)
def test_an_oversized_request_line_is_a_json_414(live_api, query_length, who):
    status, content_type, body = send(live_api, "GET", "/api/v1/orders?buyer_id=" + "a" * query_length)
    assert status == 414, who
    assert content_type.startswith("application/json")
    assert json.loads(body) == {"code": "request_line_too_long", "message": json.loads(body)["message"], "details": {}}


@pytest.mark.parametrize(("header_length", "who"), [(10_000, "the application"), (20_000, "gunicorn")])
def test_an_oversized_header_is_a_json_431(live_api, header_length, who):
    status, content_type, body = send(live_api, "GET", "/api/v1/orders", headers={"X-Padding": "p" * header_length})
    assert status == 431, who
    assert content_type.startswith("application/json")
    assert json.loads(body)["code"] == "request_header_too_large"
    assert json.loads(body)["details"] == {}


def test_the_client_reads_stock_pages_and_search_as_a_shop_would(live_api):
    client = live_api.client()
    stock = client.sku_stock("杯子")
    assert stock["sku_code"] == "杯子"
    assert stock["total"]["available"] == 5

    # One order per page: the client follows ``next`` through list and search alike.
    listed = [order["order_no"] for order in client.orders(buyer_id=BUYER, page_size=1)]
    assert listed == live_api.buyer_order_nos
    found = [order["order_no"] for order in client.search_orders(buyer_id=BUYER, page_size=1)]
    assert found == live_api.buyer_order_nos
    # The same order, by the same field names, in the list and in the search.
    first_listed = next(client.orders(buyer_id=BUYER))
    first_found = next(client.search_orders(buyer_id=BUYER))
    assert {key: first_found[key] for key in first_listed} == first_listed

    with pytest.raises(OmsApiError) as other_shop:
        client.search_orders(buyer_id=BUYER, shop_id=live_api.other_shop.pk).__next__()
    assert (other_shop.value.status, other_shop.value.code) == (404, "shop_not_found")
    with pytest.raises(OmsApiError) as other_order:
        client.order(live_api.other_order_no)
    assert (other_order.value.status, other_order.value.code) == (404, "order_not_found")
    with pytest.raises(OmsApiError) as blank:
        client.orders(created_before="").__next__()
    assert (blank.value.status, blank.value.code, list(blank.value.details)) == (
        400,
        "validation_error",
        ["created_before"],
    )


def test_an_edit_on_a_stale_version_is_refused_and_changes_nothing(live_api):
    client = live_api.client()
    order_no = live_api.buyer_order_nos[0]
    read = client.order(order_no)

    edited = client.update_remark(order_no, "gift wrap", version=read["version"])
    assert edited["seller_remark"] == "gift wrap"
    assert edited["version"] == read["version"] + 1

    with pytest.raises(OmsApiError) as stale:
        client.update_remark(order_no, "no wrap", version=read["version"])
    assert (stale.value.status, stale.value.code) == (412, "version_conflict")
    assert stale.value.details == {"version": edited["version"]}

    session = live_api.shop_session()
    address = {**read["recipient"], "address": "新地址 1 号"}
    response = session.post(
        f"{live_api.url}/api/v1/orders/{order_no}/address",
        json={"recipient": address},
        headers={"If-Match": f'"{read["version"]}"'},
        timeout=30,
    )
    assert response.status_code == 412
    assert response.json()["code"] == "version_conflict"

    after = client.order(order_no)
    assert (after["seller_remark"], after["recipient"], after["version"]) == (
        "gift wrap",
        read["recipient"],
        edited["version"],
    )
    moved = session.post(
        f"{live_api.url}/api/v1/orders/{order_no}/address",
        json={"recipient": address},
        headers={"If-Match": f'"{after["version"]}"'},
        timeout=30,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["recipient"]["address"] == "新地址 1 号"


def test_the_complete_example_in_the_docs_runs_against_the_server(live_api, tmp_path):
    guide = (ROOT / "docs" / "API.md").read_text()
    example = guide.split("## A complete example", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "example.py"
    script.write_text(example)
    env = {
        "PATH": os.environ["PATH"],
        "OMS_URL": live_api.url,
        "OMS_APP_KEY": live_api.shop.app_key,
        "OMS_APP_SECRET": SHOP_SECRET,
        "OMS_BUYER_ID": BUYER,
    }
    result = subprocess.run(  # noqa: S603 - the docs' example, run by our own interpreter
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{len(live_api.buyer_order_nos)} orders awaiting payment"
    assert lines[1] == f"{len(live_api.buyer_order_nos)} orders found by search"
    # The example edited the remark of the first order awaiting payment, with its version.
    order_no = lines[-1].split()[0]
    edited = live_api.client().order(order_no)
    assert edited["seller_remark"] == "call before delivery"
    assert lines[-1] == f"{order_no} is at version {edited['version']}"
