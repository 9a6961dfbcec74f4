"""Oversized request targets and headers, refused in the API's JSON shape.

The WSGI server refuses only what is beyond its own (higher) limits (docker/gunicorn.conf.py);
below them the application answers: 414 ``request_line_too_long`` for a path and query
longer than ``API_MAX_REQUEST_TARGET`` characters, 431 ``request_header_too_large`` for a
header (name and value) longer than ``API_MAX_HEADER_BYTES``.
"""

from django.conf import settings
from django.utils.translation import gettext as _

from apps.core.api.error_codes import ApiErrorCode
from apps.core.api.errors import api_error


class RequestLimitsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        if len(request.path) + len(query) + 1 > settings.API_MAX_REQUEST_TARGET:
            return api_error(
                ApiErrorCode.REQUEST_LINE_TOO_LONG,
                _("The address is longer than the server accepts."),
                status=414,
            )
        for name, value in request.META.items():
            if name.startswith("HTTP_") and len(name) + len(str(value)) > settings.API_MAX_HEADER_BYTES:
                return api_error(
                    ApiErrorCode.REQUEST_HEADER_TOO_LARGE,
                    _("A request header is larger than the server accepts."),
                    status=431,
                )
        return self.get_response(request)
