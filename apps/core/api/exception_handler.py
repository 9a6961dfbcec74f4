"""Every API error has the shape {"code": "...", "message": "...", "details": {...}}."""

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from django.utils.translation import gettext as _
from django_fsm import TransitionNotAllowed
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.api.error_codes import ApiErrorCode
from apps.core.dependencies import as_dependency_error
from apps.core.error_codes import CoreErrorCode
from apps.core.exceptions import ApplicationError

logger = logging.getLogger(__name__)


def error_response(
    code: str, message: str, details: dict | None = None, *, status_code: int, headers: dict | None = None
) -> Response:
    return Response({"code": code, "message": message, "details": details or {}}, status=status_code, headers=headers)


def exception_handler(exc, context):
    outage = as_dependency_error(exc)
    if outage is not None:
        logger.warning("API request failed: %s is unavailable", outage.extra["dependency"], exc_info=exc)
        exc = outage
    if isinstance(exc, ApplicationError):
        return error_response(exc.code, exc.message, exc.extra, status_code=exc.status_code, headers=exc.headers)
    if isinstance(exc, TransitionNotAllowed):
        return error_response(
            CoreErrorCode.INVALID_TRANSITION,
            _("This action is not allowed in the order's current status."),
            status_code=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, RequestDataTooBig):
        return error_response(
            ApiErrorCode.REQUEST_TOO_LARGE,
            _("The request body is larger than the server accepts."),
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, SuspiciousOperation):
        # Django's own verdict on a malformed request (too many fields, and the like): a 400.
        return error_response(ApiErrorCode.BAD_REQUEST, _("The request could not be read."), status_code=400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        return error_response(
            CoreErrorCode.VALIDATION_ERROR,
            _("The request is invalid; see details."),
            exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail},
            status_code=response.status_code,
        )
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
    code = codes if isinstance(codes, str) else CoreErrorCode.SERVER_ERROR
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    response.data = {"code": code, "message": str(detail), "details": {}}
    return response
