"""Factories for search and report tests: shops, warehouses, SKUs, orders with lines and
fulfillments, written straight to the tables (the order services are not what these test)."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from apps.inventory.models import Sku, Warehouse
from apps.orders.models import Fulfillment, FulfillmentLine, Order, OrderLine, OrderStatus
from apps.shops.models import Platform, Shop


class ShopFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Shop
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"shop-{n}")
    name = factory.Sequence(lambda n: f"Shop {n}")
    platform = Platform.TMALL
    app_key = factory.Sequence(lambda n: f"search-app-key-{n}")

    @factory.post_generation
    def secret(self, create, extracted, **kwargs):
        self.set_app_secret(extracted or "s3cret")
        if create:
            self.save(update_fields=["app_secret_encrypted"])


class WarehouseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Warehouse

    code = factory.Sequence(lambda n: f"WH{n:03d}")
    name = factory.Sequence(lambda n: f"Warehouse {n}")
    province = "浙江省"


class SkuFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sku

    code = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"商品 {n}")
    price = Decimal("10.00")


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    order_no = factory.Sequence(lambda n: f"2025010100000{n:07d}")
    shop = factory.SubFactory(ShopFactory)
    platform = factory.LazyAttribute(lambda o: o.shop.platform if o.shop else "own")
    buyer_id = factory.Sequence(lambda n: f"buyer-{n}")
    status = OrderStatus.PENDING_PAYMENT
    payable_amount = Decimal("100.00")
    total_amount = factory.LazyAttribute(lambda o: o.payable_amount)
    recipient_name = "张三"
    recipient_phone = factory.Sequence(lambda n: f"138{n:08d}")
    province = "浙江省"
    city = "杭州市"
    district = "西湖区"
    address = "文三路 100 号"
    version = 1


def set_created_at(order: Order, when) -> Order:
    """``created_at`` is auto_now_add: tests that need a given time set it afterwards."""
    Order.objects.filter(pk=order.pk).update(created_at=when)
    order.created_at = when
    return order


def add_line(order: Order, *, sku: Sku | None = None, name: str = "", quantity: int = 1, unit_price="10.00"):
    sku = sku or SkuFactory()
    unit_price = Decimal(unit_price)
    return OrderLine.objects.create(
        order=order,
        sku=sku,
        sku_code=sku.code,
        name=name or sku.name,
        quantity=quantity,
        unit_price=unit_price,
        line_total=unit_price * quantity,
    )


def add_fulfillment(order: Order, *, warehouse: Warehouse, status="pending", shipped_at=None) -> Fulfillment:
    fulfillment = Fulfillment.objects.create(
        fulfillment_no=f"F{order.order_no}{Fulfillment.objects.count()}",
        warehouse=warehouse,
        shipped_at=shipped_at,
    )
    Fulfillment.objects.filter(pk=fulfillment.pk).update(status=status)
    for line in order.lines.all():
        FulfillmentLine.objects.create(fulfillment=fulfillment, order_line=line, sku=line.sku, quantity=line.quantity)
    return fulfillment


def paid_order(*, paid_at=None, shipped_at=None, **kwargs) -> Order:
    """An order paid in full (``paid_amount == payable_amount``), optionally shipped."""
    paid_at = paid_at or timezone.now() - timedelta(hours=1)
    order = OrderFactory(
        status=kwargs.pop("status", OrderStatus.SHIPPED if shipped_at else OrderStatus.PAID),
        paid_at=paid_at,
        shipped_at=shipped_at,
        **kwargs,
    )
    Order.objects.filter(pk=order.pk).update(paid_amount=order.payable_amount)
    order.paid_amount = order.payable_amount
    return order
