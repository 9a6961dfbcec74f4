from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Stable cursor pagination, newest first; ``page_size`` may be lowered by the client."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 200
