"""The OpenAPI schema (drf-spectacular) says what the server answers, errors included.

``AutoSchema`` adds to every operation the error answers it can give, each with the one
error shape ``{"code", "message", "details"}`` and the codes it can carry as an enum:
the answers every API view shares (400 unreadable or invalid input, 401/403, 404 for a
path naming something, 413/415 for bodies, 429/503 for signed callers) and those a view
declares in ``error_codes = {"post": {409: [...]}}``. An operation decorated with
``apps.core.idempotency.idempotent`` also documents the ``Idempotency-Key`` header and its
errors. Each app that authenticates signed requests registers its own authentication
extension with ``SIGNATURE_DESCRIPTION`` (shops for the shop apps, orders for the WMS).
"""

from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from drf_spectacular.plumbing import ResolvedComponent, is_list_serializer
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from apps.core.api.error_codes import ApiErrorCode
from apps.core.error_codes import CoreErrorCode

SIGNATURE_DESCRIPTION = (
    "HMAC-SHA256 request signature (docs/API.md, section Signing). Send X-App-Key, X-Timestamp "
    "(Unix seconds), X-Nonce (unique per request) and X-Signature = hex(HMAC-SHA256(app secret, "
    "METHOD\\nCANONICAL_TARGET\\nTIMESTAMP\\nNONCE\\nhex(SHA-256(body)))), where CANONICAL_TARGET is "
    "the path and query with every percent-escape decoded and re-encoded in upper case. Requests "
    "more than five minutes off and replayed nonces are refused with 401."
)

ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error answer of the API.",
    "properties": {
        "code": {"type": "string", "description": "Machine-readable; stable across releases."},
        "message": {"type": "string", "description": "For people, in the request's language."},
        "details": {"type": "object", "additionalProperties": True, "description": "Per field or per rule."},
    },
    "required": ["code", "message", "details"],
}
DESCRIPTIONS = {
    400: "The request is invalid or could not be read.",
    401: "Missing, stale, replayed or wrong signature (or no session).",
    403: "The caller may not do this.",
    404: "Nothing of this caller's at this address.",
    409: "The current state does not allow this.",
    412: "The order changed since the version the request names.",
    413: "The request body is larger than the server accepts.",
    415: "The body is not in a media type this operation reads.",
    422: "Understood, but the business rules refuse it.",
    429: "Too many requests; retry after the Retry-After header's seconds.",
    502: "The payment provider refused; nothing was charged.",
    503: "A dependency is unavailable; nothing was changed; retry later.",
}
# DRF refuses NUL characters in any string, and trims then refuses blank ones.
TEXT = r"^[^\x00]*$"
NON_BLANK_TEXT = r"^[^\x00]*[^\s\x00][^\x00]*$"
SIGNED_SCHEMES = {"shopSignature", "wmsSignature"}
# Signed calls that pass through the rate limiter and the dependencies' health.
RATE_LIMITED = [CoreErrorCode.RATE_LIMITED]
DEPENDENCY_UNAVAILABLE = ["dependency_unavailable"]


def _merge(target: dict[int, list[str]], extra: dict[int, list[str]]) -> None:
    for status, codes in extra.items():
        merged = target.setdefault(status, [])
        merged.extend(str(code) for code in codes if str(code) not in merged)


class AutoSchema(BaseAutoSchema):
    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        """What drf-spectacular leaves out of request bodies and parameters but the server
        checks: strings without NUL characters and, when trimmed and non-blank, with a
        non-space one; decimals with at least one digit and no sign when they cannot be
        negative; lists of objects with their minimum and maximum length."""
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction != "request" or "$ref" in schema:
            return schema
        if isinstance(field, serializers.CharField) and schema.get("type") == "string":
            if not {"format", "pattern", "enum"} & schema.keys():
                non_blank = not field.allow_blank and field.trim_whitespace
                schema["pattern"] = NON_BLANK_TEXT if non_blank else TEXT
        elif isinstance(field, serializers.DecimalField) and "pattern" in schema:
            sign = "" if field.min_value is not None and field.min_value >= 0 else "-?"
            whole, places = field.max_whole_digits, field.decimal_places
            schema["pattern"] = rf"^{sign}(?:\d{{1,{whole}}}(?:\.\d{{0,{places}}})?|\.\d{{1,{places}}})$"
        elif is_list_serializer(field):
            if field.min_length is not None:
                schema["minItems"] = field.min_length
            if field.max_length is not None:
                schema["maxItems"] = field.max_length
        return schema

    def _map_basic_serializer(self, serializer, direction):
        """A serializer's ``one_of_required`` (alternative sets of required fields) as ``oneOf``."""
        schema = super()._map_basic_serializer(serializer, direction)
        alternatives = getattr(serializer, "one_of_required", None)
        if direction == "request" and alternatives:
            schema["oneOf"] = [{"required": list(names)} for names in alternatives]
        return schema

    def _view_method(self):
        return getattr(self.view, self.method.lower(), None)

    def is_idempotent(self) -> bool:
        return bool(getattr(self._view_method(), "accepts_idempotency_key", False))

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.is_idempotent():
            parameters.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    {"type": "string", "minLength": 1, "maxLength": 255},
                    OpenApiParameter.HEADER,
                    description="Retry-safe creation: the same key returns the first answer (24 h).",
                )
            )
        return parameters

    def error_codes(self) -> dict[int, list[str]]:
        codes: dict[int, list[str]] = {
            400: [CoreErrorCode.VALIDATION_ERROR, "parse_error", ApiErrorCode.BAD_REQUEST],
        }
        security = {name for requirement in self.get_auth() for name in requirement}
        if security:
            _merge(codes, {401: ["not_authenticated", CoreErrorCode.AUTHENTICATION_FAILED]})
            _merge(codes, {403: [CoreErrorCode.PERMISSION_DENIED]})
        if "{" in self.path:
            _merge(codes, {404: [CoreErrorCode.NOT_FOUND]})
        if self.method in {"POST", "PUT", "PATCH"}:
            _merge(codes, {413: [ApiErrorCode.REQUEST_TOO_LARGE], 415: ["unsupported_media_type"]})
        if self._is_list_view() and self._get_paginator() is not None:
            _merge(codes, {400: [ApiErrorCode.INVALID_CURSOR]})
        if self.is_idempotent():
            _merge(
                codes,
                {
                    400: [CoreErrorCode.INVALID_IDEMPOTENCY_KEY],
                    409: [CoreErrorCode.IDEMPOTENCY_IN_PROGRESS],
                    422: [CoreErrorCode.IDEMPOTENCY_CONFLICT],
                },
            )
        if security & SIGNED_SCHEMES:
            _merge(codes, {429: RATE_LIMITED, 503: DEPENDENCY_UNAVAILABLE})
        declared = getattr(self.view, "error_codes", {}).get(self.method.lower(), {})
        _merge(codes, declared)
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if not self.path.startswith("/api/v1/") or getattr(self.view, "foreign_error_format", False):
            return responses
        error_ref = self._error_component().ref
        for status, codes in sorted(self.error_codes().items()):
            responses[str(status)] = {
                "description": DESCRIPTIONS.get(status, ""),
                "content": {
                    "application/json": {
                        "schema": {
                            "allOf": [
                                error_ref,
                                {"type": "object", "properties": {"code": {"type": "string", "enum": codes}}},
                            ]
                        }
                    }
                },
            }
        return responses

    def _error_component(self) -> ResolvedComponent:
        component = ResolvedComponent(
            name=ERROR_COMPONENT, type=ResolvedComponent.SCHEMA, object=ERROR_COMPONENT, schema=ERROR_SCHEMA
        )
        self.registry.register_on_missing(component)
        return component
