"""One error type for business rules; the API maps it to {"code", "message", "details"}."""

from typing import Any


class ApplicationError(Exception):
    """A refused request: a machine-readable ``code``, a human ``message``, optional ``extra``.

    ``status_code`` is the HTTP status the API answers with (4xx, or 503 for a dependency that
    is down); ``headers`` are added to that answer (``Retry-After``, ``RateLimit-*``).
    """

    status_code = 400

    def __init__(
        self,
        code: str,
        message: str,
        extra: dict[str, Any] | None = None,
        *,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.code = str(code)
        self.message = str(message)
        self.extra = extra or {}
        self.headers = headers or {}
        if status_code is not None:
            self.status_code = status_code


class NotFound(ApplicationError):
    status_code = 404


class Conflict(ApplicationError):
    """The request is valid but the current state forbids it (HTTP 409)."""

    status_code = 409


class Unprocessable(ApplicationError):
    status_code = 422
