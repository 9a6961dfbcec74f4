"""The shop factory every test package uses (packages that rely on other defaults subclass it
and state only those)."""

import factory
from factory.django import DjangoModelFactory

from apps.shops.models import Platform, Shop

SHOP_SECRET = "shop-test-secret"


class ShopFactory(DjangoModelFactory):
    """A shop whose app signs with ``secret`` (stored encrypted, as in production); the seller's
    ``access_token`` is empty unless given."""

    class Meta:
        model = Shop
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"shop-{n:03d}")
    name = factory.LazyAttribute(lambda o: o.code)
    platform = Platform.OWN
    app_key = factory.Sequence(lambda n: f"app-key-{n:05d}")
    secret = factory.PostGenerationMethodCall("set_app_secret", SHOP_SECRET)
    access_token = factory.PostGenerationMethodCall("set_access_token", "")

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        if create:
            instance.save(update_fields=["app_secret_encrypted", "access_token_encrypted", "access_token_expires_at"])
