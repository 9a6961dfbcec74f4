"""Every operation of /api/schema/ answers as the schema says, tried as an integrator would:
requests generated from the schema (valid and invalid ones), signed like a platform's, sent
to gunicorn on loopback; any 5xx, undocumented status or body off the schema fails."""

import json

import pytest
import requests
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import ignored_auth

pytestmark = pytest.mark.django_db

# Bounded: a few examples per operation keep the whole run near a minute on two cores.
EXAMPLES_PER_OPERATION = 10


def served_schema() -> dict:
    """The document /api/schema/ serves, built by the same generator (the server is not up
    yet when pytest collects; test_the_server_serves_this_schema checks they are one)."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document, renderer_context={}))


SCHEMA = served_schema()
# A valid request may still meet the order's or the key's state: an edit on a version
# another example already moved on (412), an Idempotency-Key reused with another body (422).
ACCEPTED = ["2xx", "401", "403", "404", "409", "412", "422", "429", "502", "503"]
# Order lines carry rules across fields that JSON Schema cannot state (a discount at most the
# line's price times its quantity, totals within what an order holds): 400 validation_error.
CROSS_FIELD_RULES = ["orders_create", "orders_lines_change"]
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
        "operations": [
            {
                "include-operation-id": CROSS_FIELD_RULES,
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}},
            }
        ],
    }
)
schema = schemathesis.openapi.from_dict(SCHEMA, config=CONFIG)


def session_for(live_api, case) -> requests.Session:
    if case.operation.path.startswith("/api/v1/wms/"):
        return live_api.wms_session()
    if case.operation.path.startswith("/api/v1/payments/callbacks/"):
        return requests.Session()
    return live_api.shop_session()


def test_the_server_serves_this_schema(live_api):
    assert requests.get(f"{live_api.url}/api/schema/?format=json", timeout=30).json() == SCHEMA


def with_real_references(case, live_api) -> None:
    """A schema-valid request names things that exist: the seeded order and SKU (so the
    answers to real edits are checked too). Invalid requests stay as generated."""
    if case.meta is None or case.meta.generation.mode.is_negative:
        return
    if case.path_parameters and "order_no" in case.path_parameters:
        case.path_parameters["order_no"] = live_api.order_no
    if isinstance(case.body, dict):
        for line in case.body.get("lines") or []:
            if isinstance(line, dict) and "sku_code" in line:
                line["sku_code"] = live_api.sku.code


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_its_schema_says(case, live_api):
    # A cursor is opaque: clients only send back the one a page's ``next`` carries (a
    # made-up one is a 400 invalid_cursor, tested with the pagination).
    if case.query:
        case.query.pop("cursor", None)
    with_real_references(case, live_api)
    case.call_and_validate(
        base_url=live_api.url,
        session=session_for(live_api, case),
        timeout=30,
        # The session signs every request it sends, the check's unsigned retry too; signing
        # is enforced by test_every_signed_operation_refuses_an_unsigned_request.
        excluded_checks=[ignored_auth],
    )


def signed_operations():
    for path, item in SCHEMA["paths"].items():
        for method, operation in item.items():
            if operation.get("security") and {"shopSignature", "wmsSignature"} & {
                name for requirement in operation["security"] for name in requirement
            }:
                yield method.upper(), path


def test_every_signed_operation_refuses_an_unsigned_or_badly_signed_request(live_api):
    operations = list(signed_operations())
    assert len(operations) >= 15
    for method, path in operations:
        url = live_api.url + path.replace("{", "").replace("}", "")
        unsigned = requests.request(method, url, json={} if method == "POST" else None, timeout=30)
        forged = requests.request(
            method,
            url,
            json={} if method == "POST" else None,
            headers={"X-App-Key": live_api.shop.app_key, "X-Timestamp": "1", "X-Nonce": "n", "X-Signature": "0"},
            timeout=30,
        )
        assert unsigned.status_code == 401, (method, path, unsigned.text)
        assert forged.status_code == 401, (method, path, forged.text)
        assert forged.json()["code"] == "authentication_failed"
        assert unsigned.json()["code"] == "not_authenticated"
