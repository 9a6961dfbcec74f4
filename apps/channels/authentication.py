"""DRF authentication for platforms and storefront apps: a shop's app key + HMAC signature."""

from django.contrib.auth.models import AnonymousUser

from apps.channels.models import Shop
from apps.core.api.authentication import SignedRequestAuthentication


class ShopClient(AnonymousUser):
    """The caller behind a signed request: authenticated, and only as its shop."""

    def __init__(self, shop: Shop):
        self.shop = shop

    @property
    def is_authenticated(self) -> bool:
        return True

    def __str__(self) -> str:
        return f"shop:{self.shop.code}"


class ShopSignatureAuthentication(SignedRequestAuthentication):
    caller_kind = "shop request"

    def resolve(self, app_key: str):
        shop = Shop.objects.filter(app_key=app_key, is_active=True).first()
        if shop is None:
            return None
        return ShopClient(shop), shop, shop.app_secret
