"""Bad requests to the API are answered in the project's JSON error shape, never a 500 or
an HTML page, and change nothing."""

import base64

import pytest
from django.test import override_settings

from apps.orders.models import Order

pytestmark = pytest.mark.django_db


def _cursor(querystring: str) -> str:
    return base64.b64encode(querystring.encode()).decode()


def _assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert body["code"] == code
    assert body["message"]
    return body


@pytest.mark.parametrize("position", ["abc", "1.5", "", "1e5"])
def test_a_doctored_list_cursor_is_a_400(staff_client, position):
    response = staff_client.get("/api/v1/orders", {"cursor": _cursor(f"p={position}")})
    _assert_error(response, 400, "invalid_cursor")


def test_an_unreadable_list_cursor_is_a_400(staff_client):
    _assert_error(staff_client.get("/api/v1/orders", {"cursor": "%%%not-base64"}), 400, "invalid_cursor")


def test_a_cursor_the_list_issued_still_pages(staff_client):
    response = staff_client.get("/api/v1/orders", {"cursor": _cursor("p=12")})
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("size", ["abc", "-5", "0", "1e23", ""])
def test_a_bad_page_size_is_a_400_naming_it(staff_client, size):
    body = _assert_error(staff_client.get("/api/v1/orders", {"page_size": size}), 400, "validation_error")
    assert "page_size" in body["details"]


def test_a_page_size_above_the_maximum_is_served_as_the_maximum(staff_client):
    assert staff_client.get("/api/v1/orders", {"page_size": "100000"}).status_code == 200


def test_json_nested_too_deeply_is_a_parse_error(staff_client):
    before = Order.objects.count()
    response = staff_client.generic("POST", "/api/v1/orders", "[" * 100_000, content_type="application/json")
    _assert_error(response, 400, "parse_error")
    assert Order.objects.count() == before


@pytest.mark.parametrize("order_no", ["abc", "-1", "123456789012345678901", "%E8%AE%A2%E5%8D%95", "1.5"])
def test_order_numbers_that_cannot_exist_are_unknown_orders(staff_client, order_no):
    """Wrong length or characters: the same 404 order_not_found as any unknown order."""
    _assert_error(staff_client.get(f"/api/v1/orders/{order_no}"), 404, "order_not_found")
    _assert_error(staff_client.get(f"/api/v1/orders/{order_no}/history"), 404, "order_not_found")
    for action, body in (("cancel", {}), ("remark", {"remark": "x"}), ("payments", {"provider": "wechat"})):
        response = staff_client.post(f"/api/v1/orders/{order_no}/{action}", body, format="json")
        _assert_error(response, 404, "order_not_found")


@pytest.mark.parametrize("path", ["/api/v1/orders/", "/api/v1/nothing-here", "/api/v1/orders/1/nothing"])
def test_unknown_api_paths_are_a_json_404(staff_client, path):
    _assert_error(staff_client.get(path), 404, "not_found")
    _assert_error(staff_client.post(path, {}, format="json"), 404, "not_found")


def test_an_unknown_api_path_outside_v1_is_a_json_404(staff_client, settings):
    settings.DEBUG = False
    _assert_error(staff_client.get("/api/v2/orders"), 404, "not_found")


def test_pages_outside_the_api_keep_their_html_404(admin_client, settings):
    settings.DEBUG = False
    response = admin_client.get("/nothing-here")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_body_over_the_upload_limit_is_a_json_413(staff_client):
    before = Order.objects.count()
    response = staff_client.post("/api/v1/orders", {"buyer_id": "x" * 5000}, format="json")
    _assert_error(response, 413, "request_too_large")
    assert Order.objects.count() == before
