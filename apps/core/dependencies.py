"""What an outage of the cache or the database looks like to our code, and the answer the API
gives for it: 503 ``dependency_unavailable`` with ``Retry-After``, never a 500.

The exception handler maps these errors wherever they surface in an API view; code that can
carry on without the dependency (the outbox nudge, the rate limiter) catches ``CACHE_ERRORS``
itself.
"""

import redis.exceptions
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils.translation import gettext as _
from django_redis.exceptions import ConnectionInterrupted

from apps.core.error_codes import CoreErrorCode
from apps.core.exceptions import ApplicationError

CACHE_ERRORS: tuple[type[Exception], ...] = (
    ConnectionInterrupted,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)

# MySQL/MariaDB client errors that mean "the server did not answer", not "the query is wrong":
# can't connect (2002, 2003), server gone away (2006), lost connection / read timeout (2013),
# lost connection at handshake (2055).
_DATABASE_CONNECTION_ERRORS = frozenset({2002, 2003, 2006, 2013, 2055})


class DependencyUnavailable(ApplicationError):
    status_code = 503

    def __init__(self, dependency: str):
        super().__init__(
            CoreErrorCode.DEPENDENCY_UNAVAILABLE,
            _("A service the OMS depends on is unavailable; please retry shortly."),
            {"dependency": dependency},
            headers={"Retry-After": str(settings.API_RETRY_AFTER_SECONDS)},
        )


def is_database_outage(exc: BaseException) -> bool:
    if isinstance(exc, InterfaceError):
        return True
    if isinstance(exc, OperationalError):
        code = exc.args[0] if exc.args else None
        return code in _DATABASE_CONNECTION_ERRORS
    return False


def as_dependency_error(exc: BaseException) -> DependencyUnavailable | None:
    """The 503 an outage error stands for, or None when ``exc`` is no outage."""
    if isinstance(exc, CACHE_ERRORS):
        return DependencyUnavailable("cache")
    if is_database_outage(exc):
        return DependencyUnavailable("database")
    return None
