import factory
from django.contrib.auth import get_user_model

from tests.shops.factories import ShopFactory as ShopFactory


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True
