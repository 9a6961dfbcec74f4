import factory

from apps.channels.models import SkuMapping
from tests.inventory import factories as inventory_factories
from tests.shops import factories as shop_factories


class WarehouseFactory(inventory_factories.WarehouseFactory):
    province = "浙江省"
    city = "杭州市"


class SkuFactory(inventory_factories.SkuFactory):
    price = "59.00"


class ShopFactory(shop_factories.ShopFactory):
    platform = "tmall"
    pull_enabled = True
    pull_interval_minutes = 10

    @factory.post_generation
    def secret(self, create, extracted, **kwargs):
        self.set_app_secret(extracted or f"secret-{self.app_key}")

    @factory.post_generation
    def access_token(self, create, extracted, **kwargs):
        """``access_token=""`` makes a shop the seller never authorized."""
        self.set_access_token(f"token-{self.app_key}" if extracted is None else extracted)


class SkuMappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SkuMapping

    shop = factory.SubFactory(ShopFactory)
    sku = factory.SubFactory(SkuFactory)
    platform_sku_id = factory.Sequence(lambda n: f"{5000000 + n}")
    outer_id = factory.LazyAttribute(lambda o: o.sku.code)
    platform_item_id = factory.Sequence(lambda n: f"{6000000 + n}")
