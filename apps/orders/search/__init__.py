"""Order search: one interface (``base.SearchBackend``), two backends.

``get_backend()`` picks the one ``SEARCH_BACKEND`` names: ``database`` (default, plain SQL)
or ``elasticsearch`` (elasticsearch-dsl; falls back to the database when the cluster is
unreachable). Both answer with order numbers; callers load the orders from the database.
The API (``apps.orders.api.search_views``) and the admin (``admin_search_order_ids`` /
``SearchBackendAdminMixin``) search through here, so they always agree.
"""

from django.conf import settings
from django.contrib import messages
from django.utils.translation import gettext as _

from apps.orders.search.base import OrderQuery, SearchBackend, SearchResult

__all__ = [
    "OrderQuery",
    "SearchBackend",
    "SearchBackendAdminMixin",
    "SearchResult",
    "admin_search_order_ids",
    "get_backend",
]

# The admin's search box looks at this many best matches.
ADMIN_SEARCH_LIMIT = 200


def get_backend() -> SearchBackend:
    if settings.SEARCH_BACKEND == "elasticsearch":
        from apps.orders.search.elastic import ElasticsearchBackend

        return ElasticsearchBackend()
    from apps.orders.search.database import DatabaseBackend

    return DatabaseBackend()


def admin_search_order_ids(term: str) -> tuple[list[int], int]:
    """Ids of the orders the search box's ``term`` finds (newest first, at most 200), and how
    many match in all."""
    from apps.orders.models import Order

    term = term.strip()
    if not term:
        return [], 0
    result = get_backend().search(OrderQuery(q=term, size=ADMIN_SEARCH_LIMIT))
    ids = dict(Order.objects.filter(order_no__in=result.order_nos).values_list("order_no", "id"))
    return [ids[order_no] for order_no in result.order_nos if order_no in ids], result.total


class SearchBackendAdminMixin:
    """Put before ``admin.ModelAdmin`` on the Order admin: the search box then uses the
    search backend (the same matching as the API) instead of ``search_fields`` LIKE scans."""

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        ids, total = admin_search_order_ids(search_term)
        if total > len(ids):
            self.message_user(
                request,
                _("Showing the newest %(shown)d of %(total)d matching orders; narrow the search to see the others.")
                % {"shown": len(ids), "total": total},
                messages.WARNING,
            )
        return queryset.filter(pk__in=ids), False
