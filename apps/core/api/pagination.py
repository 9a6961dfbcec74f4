from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from rest_framework import exceptions, pagination

from apps.core.api.error_codes import ApiErrorCode
from apps.core.error_codes import CoreErrorCode
from apps.core.exceptions import ApplicationError


def invalid_cursor() -> ApplicationError:
    return ApplicationError(
        ApiErrorCode.INVALID_CURSOR, _("The cursor is invalid or has expired; start from the first page.")
    )


class CursorPagination(pagination.CursorPagination):
    """Stable cursor pagination, newest first.

    ``page_size`` may be lowered by the client: it must be a whole number of at least 1
    (else 400 ``validation_error``); one above ``max_page_size`` is served as the maximum.
    A cursor that was not issued by this list (unreadable, or pointing at a position the
    ordering field cannot hold) is a 400 ``invalid_cursor``.
    """

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        self.model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw.strip())
        except ValueError:
            size = 0
        if size < 1:
            raise ApplicationError(
                CoreErrorCode.VALIDATION_ERROR,
                _("The request is invalid; see details."),
                {self.page_size_query_param: [_("Enter a whole number of at least 1.")]},
            )
        return min(size, self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] = "Results per page, 1 or more (above 200 serves 200)."
            elif parameter["name"] == self.cursor_query_param:
                parameter["description"] = "Opaque: send back the cursor of a page's next or previous link."
        return parameters

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise invalid_cursor() from None
        if cursor is not None and cursor.position is not None:
            field = self.model._meta.get_field(self.ordering[0].lstrip("-"))
            try:
                field.get_prep_value(field.to_python(cursor.position))
            except (DjangoValidationError, ValueError, TypeError, OverflowError):
                raise invalid_cursor() from None
        return cursor
