from decimal import Decimal

import factory

from apps.core.crypto import encrypt
from apps.core.numbers import next_number
from apps.payments.models import Payment, Provider

SHOP_SECRET = "shop-secret-for-payment-tests"


class PaymentFactory(factory.django.DjangoModelFactory):
    """A payment as ``payment_start`` leaves it (``created``); tests pay it through the sandbox."""

    class Meta:
        model = Payment

    order_no = factory.LazyFunction(next_number)
    provider = Provider.WECHAT
    out_trade_no = factory.LazyFunction(next_number)
    amount = Decimal("100.00")
    description = "test order"


class ShopFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "shops.Shop"

    code = factory.Sequence(lambda n: f"pay-shop-{n}")
    name = factory.Sequence(lambda n: f"Payments shop {n}")
    platform = "own"
    app_key = factory.Sequence(lambda n: f"pay-app-{n}")
    app_secret_encrypted = factory.LazyFunction(lambda: encrypt(SHOP_SECRET))


class OrderFactory(factory.django.DjangoModelFactory):
    """An order row only (no lines, no stock): what the payment endpoint and the race need."""

    class Meta:
        model = "orders.Order"

    order_no = factory.LazyFunction(next_number)
    shop = factory.SubFactory(ShopFactory)
    buyer_id = "buyer-1"
    payable_amount = Decimal("100.00")
    total_amount = Decimal("100.00")
    recipient_name = "张三"
    recipient_phone = "13800000000"
    province = "浙江省"
    city = "杭州市"
    address = "文一西路 1 号"
