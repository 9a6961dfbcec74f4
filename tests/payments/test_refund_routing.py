"""Every refund goes back to the trade that paid it, on every path that refunds.

Orders are made and paid for real (WeChat Pay and Alipay trades at the sandbox gateway, their
signed callbacks applied); the outbox and the refund beat job run as in production. Each test
reads the sandbox's own record of which trade received how much.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from apps.aftersales.models import AfterSaleStatus
from apps.aftersales.services.aftersales import (
    AfterSaleLineInput,
    aftersale_approve,
    aftersale_create,
    aftersale_receive,
    aftersale_refund,
)
from apps.core.models import Alert
from apps.orders.models import Order, OrderStatus
from apps.orders.services import order_cancel, order_expire
from apps.payments.models import Payment, Refund, RefundStatus
from apps.payments.services import payment_notification_handle, payment_start, refunds_process_due
from tests.aftersales.factories import ShopFactory, SkuFactory, WarehouseFactory, deliver, drain, place_order, receive

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture(autouse=True)
def _no_wms(settings):
    settings.WMS_BASE_URL = ""


@pytest.fixture
def sku():
    sku = SkuFactory()
    receive(sku, WarehouseFactory(), 20)
    return sku


def _order(sku, quantity: int = 2) -> Order:
    return place_order(ShopFactory(), [(sku, quantity, "50.00")])


def _reload(order: Order) -> Order:
    return Order.objects.get(pk=order.pk)


def _start(order: Order, provider: str, amount: str | None = None) -> Payment:
    return payment_start(
        order_no=order.order_no,
        amount=D(amount) if amount else order.payable_amount,
        provider=provider,
        description="test order",
        actor="buyer",
    ).payment


def _buyer_pays(sandbox, payment: Payment, amount: str | None = None) -> None:
    """The buyer pays the trade at the gateway and its signed callback reaches us."""
    headers, body = sandbox.pay(payment.out_trade_no, amount=D(amount) if amount else None, notify=False)
    assert payment_notification_handle(provider=payment.provider, headers=headers, body=body).status == 200


def _settle() -> None:
    """Deliver every event and let the refund beat job ask about refunds until none is open."""
    for _round in range(6):
        drain()
        open_refunds = Refund.objects.filter(status__in=[RefundStatus.REQUESTED, RefundStatus.PROCESSING])
        if not open_refunds.exists():
            return
        open_refunds.update(next_attempt_at=timezone.now())
        refunds_process_due(actor="system:beat")
    raise AssertionError("refunds still open")


def _returned(sandbox) -> dict[str, Decimal]:
    """Money the gateway gave back, per trade."""
    totals: dict[str, Decimal] = {}
    for refund in sandbox.refunds.values():
        totals[refund.out_trade_no] = totals.get(refund.out_trade_no, D(0)) + refund.amount
    return totals


# A refusal each provider documents as final (no retry).
FINAL_REFUSAL = {
    "wechat": {"code": "USER_ACCOUNT_ABNORMAL", "status": 403},
    "alipay": {"code": "ACQ.TRADE_STATUS_ERROR"},
}


def _paid_twice(
    sandbox, sku, *, first: str = "wechat", duplicate_refund_fails: bool = False
) -> tuple[Order, Payment, Payment]:
    """The buyer opens WeChat Pay and Alipay and pays both, ``first`` first: 100.00 each for a
    100.00 order. Returns the order and the WeChat and Alipay payments.

    ``duplicate_refund_fails``: the second provider refuses the automatic refund of the
    duplicate for good (the money stays with that trade for someone to give back).
    """
    order = _order(sku)
    second = "alipay" if first == "wechat" else "wechat"
    payments = {first: _start(order, first), second: _start(order, second)}
    _buyer_pays(sandbox, payments[first])
    _settle()
    if duplicate_refund_fails:
        sandbox.refuse_refunds(1, **FINAL_REFUSAL[second])
    _buyer_pays(sandbox, payments[second])
    _settle()
    return _reload(order), payments["wechat"], payments["alipay"]


def test_a_duplicate_payment_goes_back_to_the_trade_that_made_it(sandbox, sku):
    order, _wechat, alipay = _paid_twice(sandbox, sku)

    assert order.status == OrderStatus.PENDING_SHIPMENT  # the order keeps the WeChat payment
    assert (order.paid_amount, order.refunded_amount) == (D("200.00"), D("100.00"))
    assert _returned(sandbox) == {alipay.out_trade_no: D("100.00")}


@pytest.mark.parametrize("close", ["timeout", "cancel"])
def test_payments_after_the_order_closed_each_go_back_to_their_own_trade(sandbox, sku, close):
    order = _order(sku)
    wechat, alipay = _start(order, "wechat"), _start(order, "alipay")
    if close == "timeout":
        Order.objects.filter(pk=order.pk).update(payment_deadline=timezone.now() - timedelta(seconds=1))
        order_expire(order_no=order.order_no, actor="system:timeout")
    else:
        order_cancel(order_no=order.order_no, actor="buyer", reason="changed my mind")
    # Both buyers' money arrives before the close reaches the gateway, Alipay's first.
    _buyer_pays(sandbox, alipay)
    _buyer_pays(sandbox, wechat)
    _settle()

    late = {r.reference: sandbox.refunds[r.out_refund_no].out_trade_no for r in Refund.objects.all()}
    assert late == {
        f"late:{alipay.out_trade_no}": alipay.out_trade_no,
        f"late:{wechat.out_trade_no}": wechat.out_trade_no,
    }
    assert _returned(sandbox) == {alipay.out_trade_no: D("100.00"), wechat.out_trade_no: D("100.00")}
    assert _reload(order).refunded_amount == D("200.00")


def test_a_payment_of_another_amount_goes_back_to_its_trade_not_to_the_one_that_paid(sandbox, sku):
    """A WeChat trade opened for 80.00 (another amount than the order's 100.00) is paid
    after Alipay paid the order: its 80.00 goes back to WeChat, Alipay keeps paying the order."""
    order = _order(sku)
    wechat, alipay = _start(order, "wechat", "80.00"), _start(order, "alipay")
    _buyer_pays(sandbox, alipay)
    _buyer_pays(sandbox, wechat)
    _settle()

    assert _reload(order).status == OrderStatus.PENDING_SHIPMENT
    assert _returned(sandbox) == {wechat.out_trade_no: D("80.00")}


def test_a_short_payment_goes_back_to_its_trade_once_another_pays(sandbox, sku):
    order = _order(sku)
    alipay, wechat = _start(order, "alipay"), _start(order, "wechat")
    _buyer_pays(sandbox, alipay, amount="90.00")  # the gateway collected 90.00 of 100.00
    _buyer_pays(sandbox, wechat)
    _settle()

    assert _reload(order).paid_amount == D("100.00")
    assert _returned(sandbox) == {alipay.out_trade_no: D("90.00")}


@pytest.mark.parametrize("trouble", [None, 429], ids=["answered", "retried"])
def test_intercepting_an_order_splits_its_refund_over_the_payments_that_hold_the_money(sandbox, sku, trouble):
    order, wechat, alipay = _paid_twice(sandbox, sku, duplicate_refund_fails=True)
    assert order.status == OrderStatus.PENDING_SHIPMENT
    assert _returned(sandbox) == {}

    if trouble:
        sandbox.fail_next(1, status=trouble)  # WeChat rate-limits the first call: the beat job sends it again
    order_cancel(order_no=order.order_no, actor="cs:amy", reason="buyer called")
    _settle()

    parts = {(r.payment.out_trade_no, r.amount) for r in Refund.objects.filter(reference=f"cancel:{order.order_no}")}
    assert parts == {(wechat.out_trade_no, D("100.00")), (alipay.out_trade_no, D("100.00"))}
    wechat_part = Refund.objects.get(reference=f"cancel:{order.order_no}", payment=wechat)
    assert wechat_part.attempts == (1 if trouble else 0)
    assert _returned(sandbox) == {wechat.out_trade_no: D("100.00"), alipay.out_trade_no: D("100.00")}
    order = _reload(order)
    assert (order.status, order.refunded_amount) == (OrderStatus.CANCELLED, D("200.00"))


def _aftersale(order: Order, type_: str, amount: str, lines=()):
    aftersale = aftersale_create(
        order_no=order.order_no,
        type=type_,
        lines=list(lines),
        amount=D(amount),
        reason="Does not fit",
        source="buyer",
        actor="shop:test",
    )
    drain()
    aftersale.refresh_from_db()
    return aftersale


def test_a_return_refund_goes_back_to_the_payment_that_paid_the_order(sandbox, sku):
    order, wechat, alipay = _paid_twice(sandbox, sku)
    order = deliver(order)
    line = order.lines.get()
    aftersale = _aftersale(order, "return_refund", "50.00", [AfterSaleLineInput(line.pk, 1)])
    aftersale_approve(aftersale_no=aftersale.aftersale_no, actor="cs:amy")
    aftersale_receive(
        aftersale_no=aftersale.aftersale_no, actor="wh:bo", inspections={aftersale.lines.get().pk: "sellable"}
    )

    aftersale_refund(aftersale_no=aftersale.aftersale_no, actor="finance:li")
    _settle()

    aftersale.refresh_from_db()
    assert (aftersale.status, aftersale.refunded_amount) == (AfterSaleStatus.COMPLETED, D("50.00"))
    # The duplicate went back to Alipay; the return is refunded from the WeChat payment.
    assert _returned(sandbox) == {wechat.out_trade_no: D("50.00"), alipay.out_trade_no: D("100.00")}


def test_a_split_refund_only_whose_part_fails_is_retried_for_the_rest_to_the_same_trade(sandbox, sku):
    order, wechat, alipay = _paid_twice(sandbox, sku, first="alipay", duplicate_refund_fails=True)
    order = deliver(order)
    aftersale = _aftersale(order, "refund_only", "200.00")
    aftersale_approve(aftersale_no=aftersale.aftersale_no, actor="cs:amy")

    # Alipay refuses its part for good; WeChat's part is processing, and succeeds after that.
    sandbox.refuse_refunds(1, **FINAL_REFUSAL["alipay"])
    aftersale_refund(aftersale_no=aftersale.aftersale_no, actor="finance:li")
    _settle()

    aftersale.refresh_from_db()
    assert (aftersale.status, aftersale.refunded_amount) == (AfterSaleStatus.REFUND_FAILED, D("100.00"))
    assert Alert.objects.filter(kind="aftersale_refund_failed", open_key__endswith=aftersale.aftersale_no).exists()
    assert _returned(sandbox) == {wechat.out_trade_no: D("100.00")}

    aftersale_refund(aftersale_no=aftersale.aftersale_no, actor="finance:li")  # Alipay takes it now
    _settle()

    aftersale.refresh_from_db()
    assert (aftersale.status, aftersale.refunded_amount) == (AfterSaleStatus.COMPLETED, D("200.00"))
    assert _returned(sandbox) == {wechat.out_trade_no: D("100.00"), alipay.out_trade_no: D("100.00")}
    order = _reload(order)
    assert (order.status, order.refunded_amount) == (OrderStatus.REFUNDED, D("200.00"))


def test_finance_refunds_the_payment_it_selected(sandbox, sku, client):
    order, _wechat, alipay = _paid_twice(sandbox, sku, duplicate_refund_fails=True)
    finance = User.objects.create_user("finance", password="x", is_staff=True)
    finance.user_permissions.set(
        Permission.objects.filter(content_type__app_label="payments", codename__in=["view_payment", "issue_refund"])
    )
    client.force_login(finance)

    client.post(
        "/admin/payments/payment/",
        {
            "action": "refund",
            "_selected_action": [alipay.pk],
            "apply": "1",
            "amount": "100.00",
            "reason": "the duplicate",
            "reference": "adm-dup-1",
        },
    )
    _settle()

    assert _returned(sandbox) == {alipay.out_trade_no: D("100.00")}
    assert _reload(order).status == OrderStatus.PENDING_SHIPMENT
