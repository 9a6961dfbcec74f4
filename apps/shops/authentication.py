"""DRF authentication for platforms and storefront apps: a shop's app key + HMAC signature."""

from apps.core.api.authentication import SignedCaller, SignedRequestAuthentication
from apps.shops.models import Shop


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


class ShopSignatureAuthentication(SignedRequestAuthentication):
    caller_kind = "shop request"

    def resolve(self, app_key: str):
        shop = Shop.objects.filter(app_key=app_key, is_active=True).first()
        if shop is None:
            return None
        return ShopClient(shop), shop, shop.app_secret


def caller_shop(request) -> Shop | None:
    """The Shop a signed request acts as, or None for a staff session."""
    user = getattr(request, "user", None)
    return user.shop if isinstance(user, ShopClient) else None
