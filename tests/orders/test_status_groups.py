"""The status groups and "refunded in full" every app asks (one definition each)."""

from decimal import Decimal

import pytest

from apps.orders.models import (
    NOT_SHIPPED_STATUSES,
    PAID_NOT_SHIPPED_STATUSES,
    SHIPPED_STATUSES,
    Order,
    OrderStatus,
    refunds_cover_payment,
)


def test_an_order_is_never_both_shipped_and_not_shipped():
    assert not NOT_SHIPPED_STATUSES & SHIPPED_STATUSES
    assert NOT_SHIPPED_STATUSES - {OrderStatus.PENDING_PAYMENT} == PAID_NOT_SHIPPED_STATUSES


@pytest.mark.parametrize(
    ("paid", "refunded", "full"),
    [
        ("100.00", "100.00", True),
        ("100.00", "120.00", True),
        ("100.00", "99.99", False),
        ("0.00", "0.00", False),  # nothing was paid: nothing to refund in full
    ],
)
def test_refunded_in_full_needs_every_cent_paid_back(paid, refunded, full):
    order = Order(paid_amount=Decimal(paid), refunded_amount=Decimal(refunded))
    assert refunds_cover_payment(paid=Decimal(paid), refunded=Decimal(refunded)) is full
    assert order.refunded_in_full is full
