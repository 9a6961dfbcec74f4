"""DRF authentication for platforms and storefront apps: a shop's app key + HMAC signature.

Shops are looked up by app key once per process, not on every request: each process keeps
the shops it has seen, stamped with the shops' version (a token in the shared cache that
every committed change of a shop replaces), and reads a shop again when the version moved.
The signature is verified on every request as before.
"""

from uuid import uuid4

from django.core.cache import cache
from django.db import transaction

from apps.core.api.authentication import SignedCaller, SignedRequestAuthentication
from apps.shops.models import Shop

SHOPS_VERSION_KEY = "shops:auth-version"
_known: dict[str, tuple[str, tuple]] = {}


class ShopClient(SignedCaller):
    """The caller behind a signed request: authenticated, and only as its shop."""

    def __init__(self, shop: Shop):
        self.shop = shop

    @property
    def caller_key(self) -> str:
        return f"shop:{self.shop.pk}"

    def acts_for_shop(self, shop_id: int) -> bool:
        return self.shop.pk == shop_id

    def __str__(self) -> str:
        return f"shop:{self.shop.code}"


def shops_version() -> str:
    version = cache.get(SHOPS_VERSION_KEY)
    if version is None:
        cache.add(SHOPS_VERSION_KEY, uuid4().hex, timeout=None)
        version = cache.get(SHOPS_VERSION_KEY)
    return version


def _bump() -> None:
    cache.set(SHOPS_VERSION_KEY, uuid4().hex, timeout=None)


def shops_changed(**kwargs) -> None:
    """Signal receiver: every process reads its shops again. Bumped at once and again on
    commit, since a process reading between the two may have cached the row as it was."""
    _bump()
    transaction.on_commit(_bump)


class ShopSignatureAuthentication(SignedRequestAuthentication):
    caller_kind = "shop request"

    def resolve(self, app_key: str):
        # The version is read before the shop, so a change committed in between is seen next time.
        version = shops_version()
        known = _known.get(app_key)
        if known is not None and known[0] == version:
            return known[1]
        shop = Shop.objects.filter(app_key=app_key, is_active=True).first()
        if shop is None:
            return None
        resolved = (ShopClient(shop), shop, shop.app_secret)
        _known[app_key] = (version, resolved)
        return resolved


def caller_shop(request) -> Shop | None:
    """The Shop a signed request acts as, or None for a staff session."""
    user = getattr(request, "user", None)
    return user.shop if isinstance(user, ShopClient) else None
