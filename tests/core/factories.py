import factory
from django.contrib.auth import get_user_model

from apps.shops.models import Platform, Shop


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True


class ShopFactory(factory.django.DjangoModelFactory):
    """A shop whose app signs with ``secret`` (stored encrypted, as in production)."""

    class Meta:
        model = Shop
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"core-shop-{n}")
    name = factory.LazyAttribute(lambda o: o.code)
    platform = Platform.OWN
    app_key = factory.Sequence(lambda n: f"core-app-{n}")

    @factory.post_generation
    def secret(obj, create, extracted, **kwargs):
        obj.set_app_secret(extracted or "core-test-secret")
        if create:
            obj.save(update_fields=["app_secret_encrypted"])
