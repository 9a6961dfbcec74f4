import factory

from apps.inventory.models import Sku, Warehouse


class WarehouseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Warehouse

    code = factory.Sequence(lambda n: f"WH{n:03d}")
    name = factory.LazyAttribute(lambda o: f"{o.city or o.province}仓 {o.code}")
    province = "上海"
    city = "上海"
    priority = 100


class SkuFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sku

    code = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"纯棉T恤 {n}")
    barcode = factory.Sequence(lambda n: f"69{n:011d}")
    price = "99.00"
