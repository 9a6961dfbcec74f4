"""Rate limits of shop apps (signed requests), per app key and kind of endpoint.

Kinds: ``push`` (a view that says ``rate_limit_kind = "push"``: platform order pushes),
``read`` (GET/HEAD/OPTIONS) and ``create`` (every other write). Staff sessions, the WMS and
payment callbacks (no shop) are not limited. The limits are the shop's own (admin) or the
defaults in ``RATE_LIMITS``; the bucket itself is ``apps.core.ratelimit``.
"""

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from apps.core.ratelimit import Limit, RateLimited, rate_limit_take
from apps.shops.authentication import caller_shop
from apps.shops.models import Shop

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def shop_rate_limit(shop: Shop, kind: str) -> Limit:
    default = settings.RATE_LIMITS[kind]
    per_minute = getattr(shop, f"rate_limit_{kind}_per_minute") or default["per_minute"]
    burst = getattr(shop, f"rate_limit_{kind}_burst") or default["burst"]
    return Limit(per_minute=per_minute, burst=burst)


def endpoint_kind(request, view) -> str:
    kind = getattr(view, "rate_limit_kind", None)
    if kind:
        return kind
    return "read" if request.method in _SAFE_METHODS else "create"


class ShopRateThrottle(BaseThrottle):
    """Refuses with 429 ``rate_limited`` before the view runs, so nothing is written."""

    def allow_request(self, request, view) -> bool:
        shop = caller_shop(request)
        if shop is None:
            return True
        kind = endpoint_kind(request, view)
        decision = rate_limit_take(subject=shop.app_key, kind=kind, limit=shop_rate_limit(shop, kind))
        if decision is None:
            return True
        request._request.rate_limit_decision = decision  # RateLimit-* headers on the answer
        if not decision.allowed:
            raise RateLimited(decision, kind=kind)
        return True
