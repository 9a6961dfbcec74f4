"""Database helpers every app shares."""

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.db import OperationalError, connection

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def is_retryable(exc: OperationalError) -> bool:
    """MySQL/MariaDB 1213 (deadlock victim: the transaction was rolled back) and 1205 (lock wait
    timeout), and TiDB's write conflicts: ``DB_RETRY_ERROR_CODES``."""
    return bool(exc.args) and exc.args[0] in settings.DB_RETRY_ERROR_CODES


def skip_locked() -> bool:
    """Whether work queues may use ``SELECT ... FOR UPDATE SKIP LOCKED`` (``DB_SKIP_LOCKED``,
    and the backend has it: TiDB does not). Without it they lock with a plain ``FOR UPDATE``:
    a second worker waits for the first one's batch and then sees it done, instead of taking
    the next rows at once."""
    return settings.DB_SKIP_LOCKED and connection.features.has_select_for_update_skip_locked


def retry_on_deadlock(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` (which opens its own ``transaction.atomic``) again when the database picks
    it as a deadlock victim or a lock wait times out, with a short jittered sleep.

    Only the outermost transaction can be retried: MySQL has already rolled the whole
    transaction back. When called inside a caller's ``atomic`` block the error propagates,
    and the caller owns the retry: wrap its outermost service with this decorator too
    (``from apps.core.db import retry_on_deadlock``).
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if connection.in_atomic_block:
            return func(*args, **kwargs)
        for attempt in range(1, settings.DB_DEADLOCK_RETRIES):
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                if not is_retryable(exc):
                    raise
                logger.info("%s: database error %s, retry %d", func.__name__, exc.args[0], attempt)
                time.sleep(random.uniform(0.005, 0.03) * attempt)
        return func(*args, **kwargs)

    return wrapper
