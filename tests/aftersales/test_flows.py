"""Each after-sale type end to end, with stock and money checked."""

from decimal import Decimal

import pytest

from apps.aftersales.models import AfterSaleStatus as A
from apps.aftersales.services.aftersales import (
    AfterSaleLineInput,
    aftersale_approve,
    aftersale_create,
    aftersale_receive,
    aftersale_refund,
    aftersale_ship_replacement,
)
from apps.core.exceptions import Conflict
from apps.core.models import Alert
from apps.orders.models import Fulfillment
from apps.orders.services import order_cancel
from apps.payments.models import Refund
from apps.payments.providers.base import RefundResult, RefundState
from apps.payments.selectors import refunds_succeeded_total
from apps.payments.services import refund_apply_result
from tests.aftersales.factories import (
    SkuFactory,
    deliver,
    drain,
    pay,
    place_order,
    receive,
    reload,
    settle_refunds,
    ship_fulfillment,
    stock_of,
)

pytestmark = pytest.mark.django_db


def _open(order, type_, lines, amount, source="buyer"):
    aftersale = aftersale_create(
        order_no=order.order_no,
        type=type_,
        lines=lines,
        amount=Decimal(amount),
        reason="Does not fit",
        source=source,
        actor="shop:test",
    )
    drain()
    aftersale.refresh_from_db()
    return aftersale


def test_unpaid_order_is_just_cancelled(shop, shirt, warehouse):
    order = place_order(shop, [(shirt, 2, "50.00")])
    assert stock_of(shirt, warehouse).reserved == 2

    aftersale = _open(order, "refund_only", [], "0")

    order = reload(order)
    assert aftersale.status == A.COMPLETED
    assert order.status == "cancelled"
    assert stock_of(shirt, warehouse).reserved == 0
    assert list(aftersale.logs.values_list("to_status", flat=True)) == ["requested", "approved", "completed"]


def test_refund_only_on_paid_unshipped_order_intercepts_and_refunds_in_full(shop, shirt, warehouse):
    order = pay(place_order(shop, [(shirt, 2, "50.00")]))
    assert order.status == "pending_shipment"

    aftersale = _open(order, "refund_only", [], "100.00")
    assert aftersale.status == A.REFUNDING
    assert stock_of(shirt, warehouse).reserved == 0
    assert Fulfillment.objects.filter(lines__order_line__order=order, status="cancelled").exists()

    settle_refunds(order.order_no)
    aftersale.refresh_from_db()
    order = reload(order)
    assert aftersale.status == A.COMPLETED
    assert aftersale.refunded_amount == Decimal("100.00")
    assert order.status == "cancelled"
    assert order.refunded_amount == Decimal("100.00")
    assert stock_of(shirt, warehouse).on_hand == 20


def test_refund_only_on_held_order_moves_it_to_refunding_then_refunded(shop, shirt, warehouse):
    order = pay(place_order(shop, [(shirt, 1, "50.00")], buyer_message="please gift wrap"))
    assert order.status == "on_hold"

    aftersale = _open(order, "refund_only", [], "50.00")
    order = reload(order)
    assert aftersale.status == A.REFUNDING
    assert order.status == "refunding"
    assert stock_of(shirt, warehouse).reserved == 0

    settle_refunds(order.order_no)
    order = reload(order)
    aftersale.refresh_from_db()
    assert (order.status, order.refunded_amount) == ("refunded", Decimal("50.00"))
    assert aftersale.status == A.COMPLETED


def test_partial_refund_on_unshipped_order_waits_for_staff(shop, shirt):
    order = pay(place_order(shop, [(shirt, 2, "50.00")]))
    aftersale = _open(order, "refund_only", [], "10.00")
    assert aftersale.status == A.REQUESTED
    order = reload(order)
    assert order.status == "pending_shipment"


def test_approving_after_the_order_was_cancelled_and_refunded_is_refused(shop, shirt):
    order = pay(place_order(shop, [(shirt, 2, "50.00")]))
    aftersale = _open(order, "refund_only", [], "10.00")
    order_cancel(order_no=order.order_no, actor="admin:bob", reason="buyer called")  # refunds everything

    with pytest.raises(Conflict) as refused:
        aftersale_approve(aftersale_no=aftersale.aftersale_no, actor="admin:alice")

    assert refused.value.code == "amount_exceeds_refundable"
    aftersale.refresh_from_db()
    assert aftersale.status == A.REQUESTED  # staff reject it instead
    assert Refund.objects.filter(order_no=order.order_no).count() == 1


def test_return_refund_sellable_back_on_hand_damaged_not_and_partial_refund_keeps_order_delivered(
    shop, shirt, jeans, warehouse
):
    order = deliver(pay(place_order(shop, [(shirt, 2, "50.00"), (jeans, 1, "80.00")])))
    assert order.status == "delivered"
    assert stock_of(shirt, warehouse).on_hand == 18
    shirt_line, jeans_line = order.lines.order_by("pk")

    aftersale = _open(
        order,
        "return_refund",
        [AfterSaleLineInput(order_line_id=shirt_line.pk, quantity=2), AfterSaleLineInput(jeans_line.pk, 1)],
        "130.00",
    )
    assert aftersale.status == A.REQUESTED

    aftersale_approve(aftersale_no=aftersale.aftersale_no, actor="admin:alice", approved_amount=Decimal("120.00"))
    aftersale.refresh_from_db()
    assert aftersale.status == A.AWAITING_RETURN
    assert aftersale.receiving_warehouse == warehouse

    shirt_as, jeans_as = aftersale.lines.order_by("pk")
    aftersale_receive(
        aftersale_no=aftersale.aftersale_no,
        actor="admin:wh",
        inspections={shirt_as.pk: "sellable", jeans_as.pk: "damaged"},
    )
    assert stock_of(shirt, warehouse).on_hand == 20
    assert stock_of(jeans, warehouse).on_hand == 19

    aftersale_refund(aftersale_no=aftersale.aftersale_no, actor="admin:finance")
    settle_refunds(order.order_no)

    aftersale.refresh_from_db()
    order = reload(order)
    assert aftersale.status == A.COMPLETED
    assert aftersale.refunded_amount == Decimal("120.00")
    assert order.status == "delivered"
    assert order.refunded_amount == Decimal("120.00")
    assert refunds_succeeded_total(order.order_no) == Decimal("120.00")


def test_full_return_refund_moves_the_order_to_refunded(shop, shirt, warehouse):
    order = deliver(pay(place_order(shop, [(shirt, 1, "50.00")])))
    line = order.lines.get()
    aftersale = _open(order, "return_refund", [AfterSaleLineInput(line.pk, 1)], "50.00")
    aftersale_approve(aftersale_no=aftersale.aftersale_no, actor="admin:alice")
    aftersale_receive(
        aftersale_no=aftersale.aftersale_no, actor="admin:wh", inspections={aftersale.lines.get().pk: "sellable"}
    )
    aftersale_refund(aftersale_no=aftersale.aftersale_no, actor="admin:finance")
    order = reload(order)
    assert order.status == "refunding"

    settle_refunds(order.order_no)
    order = reload(order)
    aftersale.refresh_from_db()
    assert (order.status, order.refunded_amount) == ("refunded", Decimal("50.00"))
    assert aftersale.status == A.COMPLETED
    assert stock_of(shirt, warehouse).on_hand == 20


def test_failed_refund_can_be_retried_and_then_completes(shop, shirt):
    order = deliver(pay(place_order(shop, [(shirt, 2, "50.00")])))
    aftersale = _open(order, "refund_only", [], "30.00")
    aftersale_approve(aftersale_no=aftersale.aftersale_no, actor="admin:alice")
    aftersale_refund(aftersale_no=aftersale.aftersale_no, actor="admin:finance")

    settle_refunds(order.order_no, succeeded=False)
    aftersale.refresh_from_db()
    assert aftersale.status == A.REFUND_FAILED

    aftersale_refund(aftersale_no=aftersale.aftersale_no, actor="admin:finance")
    settle_refunds(order.order_no)
    aftersale.refresh_from_db()
    order = reload(order)
    assert aftersale.status == A.COMPLETED
    assert aftersale.refund_attempts == 2
    assert order.refunded_amount == Decimal("30.00")


def test_a_refund_the_provider_confirms_after_we_marked_it_failed_completes_the_after_sale(shop, shirt):
    order = deliver(pay(place_order(shop, [(shirt, 2, "50.00")])))
    aftersale = _open(order, "refund_only", [], "30.00")
    aftersale_approve(aftersale_no=aftersale.aftersale_no, actor="admin:alice")
    aftersale_refund(aftersale_no=aftersale.aftersale_no, actor="admin:finance")
    (refund,) = settle_refunds(order.order_no, succeeded=False)
    assert Alert.objects.filter(kind="aftersale_refund_failed", resolved_at__isnull=True).count() == 1

    refund_apply_result(
        result=RefundResult(reference=refund.out_refund_no, state=RefundState.SUCCEEDED, amount=refund.amount),
        actor="provider:test",
    )
    drain()

    aftersale.refresh_from_db()
    assert (aftersale.status, aftersale.refunded_amount) == (A.COMPLETED, Decimal("30.00"))
    assert reload(order).refunded_amount == Decimal("30.00")
    assert not Alert.objects.filter(kind="aftersale_refund_failed", resolved_at__isnull=True).exists()


def test_exchange_receives_the_return_and_ships_another_size(shop, shirt, warehouse):
    other_size = SkuFactory()
    receive(other_size, warehouse, 5)
    order = deliver(pay(place_order(shop, [(shirt, 1, "50.00")])))
    line = order.lines.get()

    aftersale = _open(order, "exchange", [AfterSaleLineInput(line.pk, 1, exchange_sku_id=other_size.pk)], "0")
    aftersale_approve(aftersale_no=aftersale.aftersale_no, actor="admin:alice")
    aftersale_receive(
        aftersale_no=aftersale.aftersale_no, actor="admin:wh", inspections={aftersale.lines.get().pk: "sellable"}
    )
    assert stock_of(shirt, warehouse).on_hand == 20

    aftersale_ship_replacement(aftersale_no=aftersale.aftersale_no, actor="admin:alice")
    aftersale.refresh_from_db()
    assert aftersale.status == A.SHIPPING
    assert stock_of(other_size, warehouse).reserved == 1

    ship_fulfillment(Fulfillment.objects.get(fulfillment_no=aftersale.fulfillment_no))
    aftersale.refresh_from_db()
    order = reload(order)
    replacement = stock_of(other_size, warehouse)
    assert aftersale.status == A.COMPLETED
    assert (replacement.on_hand, replacement.reserved) == (4, 0)
    assert order.status == "delivered"
    assert order.refunded_amount == Decimal("0.00")


def test_reissue_ships_the_missing_item_without_a_return(shop, shirt, warehouse):
    order = deliver(pay(place_order(shop, [(shirt, 2, "50.00")])))
    line = order.lines.get()

    aftersale = _open(order, "reissue", [AfterSaleLineInput(line.pk, 1)], "0")
    aftersale_approve(aftersale_no=aftersale.aftersale_no, actor="admin:alice")
    aftersale.refresh_from_db()
    assert aftersale.status == A.APPROVED

    aftersale_ship_replacement(aftersale_no=aftersale.aftersale_no, actor="admin:alice")
    aftersale.refresh_from_db()
    ship_fulfillment(Fulfillment.objects.get(fulfillment_no=aftersale.fulfillment_no))

    aftersale.refresh_from_db()
    stock = stock_of(shirt, warehouse)
    assert aftersale.status == A.COMPLETED
    assert (stock.on_hand, stock.reserved) == (17, 0)
    assert list(aftersale.logs.values_list("to_status", flat=True)) == [
        "requested",
        "approved",
        "shipping",
        "completed",
    ]
