import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_openapi_schema_is_valid_and_free_of_warnings(tmp_path):
    """Platform integrators generate clients from /api/schema/: it must validate cleanly,
    with every signed endpoint's security scheme described and no colliding components."""
    target = tmp_path / "schema.yml"

    call_command("spectacular", "--file", str(target), "--validate", "--fail-on-warn")

    schema = target.read_text()
    assert "shopSignature" in schema
    assert "wmsSignature" in schema
    assert "/api/v1/orders/{order_no}/payments" in schema


def generated_schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


API_OPERATIONS = [
    (path, method, operation)
    for path, item in generated_schema()["paths"].items()
    for method, operation in item.items()
    if path.startswith("/api/v1/") and not path.startswith("/api/v1/payments/callbacks/")
]


def error_codes(operation: dict, status: str) -> list[str]:
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    assert schema["allOf"][0] == {"$ref": "#/components/schemas/Error"}
    return schema["allOf"][1]["properties"]["code"]["enum"]


@pytest.mark.parametrize(
    ("path", "method", "operation"), API_OPERATIONS, ids=[f"{m} {p}" for p, m, _ in API_OPERATIONS]
)
def test_every_operation_documents_its_error_answers_with_the_error_shape(path, method, operation):
    responses = operation["responses"]
    assert "validation_error" in error_codes(operation, "400")
    if operation.get("security"):
        assert set(error_codes(operation, "401")) == {"not_authenticated", "authentication_failed"}
        assert "permission_denied" in error_codes(operation, "403")
        assert error_codes(operation, "429") == ["rate_limited"]
        assert "dependency_unavailable" in error_codes(operation, "503")
    if "{" in path:
        assert "not_found" in error_codes(operation, "404")
    if method == "post":
        assert error_codes(operation, "413") == ["request_too_large"]
        assert error_codes(operation, "415") == ["unsupported_media_type"]
        assert list(operation["requestBody"]["content"]) == ["application/json"]
    assert not [status for status in responses if status.startswith("5") and status not in {"502", "503"}]


def test_the_error_shape_is_one_component():
    error = generated_schema()["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "message", "details"]
    assert error["properties"]["details"]["type"] == "object"


def test_lists_and_search_document_one_cursor_envelope_and_one_filter_vocabulary():
    schema = generated_schema()
    envelopes = {}
    for path in ("/api/v1/orders", "/api/v1/aftersales", "/api/v1/orders/search"):
        operation = schema["paths"][path]["get"]
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        envelopes[path] = component
        assert {"next", "previous", "results"} <= set(component["properties"])
        assert component["properties"]["results"]["type"] == "array"
        names = {parameter["name"] for parameter in operation["parameters"]}
        assert {"cursor", "page_size", "status"} <= names
        page_size = next(p for p in operation["parameters"] if p["name"] == "page_size")
        assert page_size["schema"]["minimum"] == 1
    for path in ("/api/v1/orders", "/api/v1/orders/search"):
        parameters = {p["name"]: p["schema"] for p in schema["paths"][path]["get"]["parameters"]}
        assert {"buyer_id", "created_after", "created_before", "status"} <= set(parameters)
        assert "pending_payment" in parameters["status"]["items"]["enum"]
        assert [choice["format"] for choice in parameters["created_before"]["oneOf"]] == ["date", "date-time"]
        assert parameters["buyer_id"]["minLength"] == 1
    search = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/orders/search"]["get"]["parameters"]}
    assert "-created_at" in search["sort"]["enum"]
    assert "" not in search["sort"]["enum"]


def test_order_edits_document_the_version_and_its_412():
    schema = generated_schema()
    for action in ("address", "remark", "lines"):
        operation = schema["paths"][f"/api/v1/orders/{{order_no}}/{action}"]["post"]
        assert error_codes(operation, "412") == ["version_conflict"]
        assert "order_not_found" in error_codes(operation, "404")
        assert "If-Match" in {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        body_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert "version" in schema["components"]["schemas"][body_ref]["properties"]


def test_create_operations_document_idempotency_keys():
    schema = generated_schema()
    for path in ("/api/v1/orders", "/api/v1/aftersales", "/api/v1/orders/{order_no}/payments"):
        operation = schema["paths"][path]["post"]
        assert "Idempotency-Key" in {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert "idempotency_conflict" in error_codes(operation, "422")
    start = schema["paths"]["/api/v1/orders/{order_no}/payments"]["post"]
    assert "provider_unavailable" in error_codes(start, "503")
