from enum import StrEnum


class ApiErrorCode(StrEnum):
    """Errors about the request itself rather than the business: its URL, size, paging."""

    INVALID_CURSOR = "invalid_cursor"
    REQUEST_TOO_LARGE = "request_too_large"
    BAD_REQUEST = "bad_request"
    REQUEST_LINE_TOO_LONG = "request_line_too_long"
    REQUEST_HEADER_TOO_LARGE = "request_header_too_large"
