"""Error pages for paths under ``/api/``: the project's JSON error shape, never HTML.

``handler400/403/404/500`` (set in ``oms.urls``) answer JSON for ``/api/`` paths and
Django's usual pages elsewhere (the admin, the home page). ``api_not_found`` is the
catch-all route for unknown ``/api/v1/`` paths, so they are JSON even with ``DEBUG`` on.
"""

from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

from apps.core.api.error_codes import ApiErrorCode
from apps.core.error_codes import CoreErrorCode

API_PREFIX = "/api/"


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def api_error(code: str, message: str, *, status: int) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, "details": {}}, status=status)


@csrf_exempt
def api_not_found(request, *args, **kwargs) -> JsonResponse:
    return api_error(CoreErrorCode.NOT_FOUND, _("There is nothing at this address."), status=404)


def bad_request(request, exception=None):
    if _is_api(request):
        return api_error(ApiErrorCode.BAD_REQUEST, _("The request could not be read."), status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    if _is_api(request):
        return api_error(
            CoreErrorCode.PERMISSION_DENIED, _("You do not have permission to perform this action."), status=403
        )
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception=None):
    if _is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return api_error(CoreErrorCode.SERVER_ERROR, _("A server error occurred."), status=500)
    return defaults.server_error(request)
