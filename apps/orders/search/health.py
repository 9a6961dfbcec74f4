"""The search backend's readiness probe: optional, since searches fall back to the database."""

from django.conf import settings

from apps.core.health import probe_register
from apps.orders.search import get_backend


def _check_search() -> None:
    get_backend().ping()


probe_register("search", _check_search, required=False, facts={"search_backend": lambda: settings.SEARCH_BACKEND})
