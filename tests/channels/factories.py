import factory

from apps.channels.models import SkuMapping
from apps.inventory.models import Sku, Warehouse
from apps.shops.models import Shop


class WarehouseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Warehouse

    code = factory.Sequence(lambda n: f"CWH{n:03d}")
    name = factory.Sequence(lambda n: f"华东仓 {n}")
    province = "浙江省"
    city = "杭州市"
    priority = 100


class SkuFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sku

    code = factory.Sequence(lambda n: f"CH-SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"保温杯 {n}")
    price = "59.00"


class ShopFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Shop
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"shop-{n:03d}")
    name = factory.Sequence(lambda n: f"旗舰店 {n}")
    platform = "tmall"
    app_key = factory.Sequence(lambda n: f"appkey{n:05d}")
    pull_enabled = True
    pull_interval_minutes = 10

    @factory.post_generation
    def secret(self, create, extracted, **kwargs):
        self.set_app_secret(extracted or f"secret-{self.app_key}")
        if create:
            self.save(update_fields=["app_secret_encrypted"])

    @factory.post_generation
    def access_token(self, create, extracted, **kwargs):
        """``access_token=""`` makes a shop the seller never authorized."""
        self.set_access_token(f"token-{self.app_key}" if extracted is None else extracted)
        if create:
            self.save(update_fields=["access_token_encrypted", "access_token_expires_at"])


class SkuMappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SkuMapping

    shop = factory.SubFactory(ShopFactory)
    sku = factory.SubFactory(SkuFactory)
    platform_sku_id = factory.Sequence(lambda n: f"{5000000 + n}")
    outer_id = factory.LazyAttribute(lambda o: o.sku.code)
    platform_item_id = factory.Sequence(lambda n: f"{6000000 + n}")
