from decimal import Decimal

import factory

from apps.core.numbers import next_number
from apps.payments.models import Payment, Provider
from tests.orders.factories import OrderFactory as OrderFactory
from tests.shops.factories import SHOP_SECRET as SHOP_SECRET
from tests.shops.factories import ShopFactory as ShopFactory


class PaymentFactory(factory.django.DjangoModelFactory):
    """A payment as ``payment_start`` leaves it (``created``); tests pay it through the sandbox."""

    class Meta:
        model = Payment

    order_no = factory.LazyFunction(next_number)
    provider = Provider.WECHAT
    out_trade_no = factory.LazyFunction(next_number)
    amount = Decimal("100.00")
    description = "test order"
