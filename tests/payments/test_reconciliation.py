"""Reconciliation against the sandbox's daily statements, in each provider's CSV format."""

from decimal import Decimal

import pytest
from django.utils import timezone

from apps.payments.models import Payment, PaymentStatus, ReconciliationResult, Refund, Statement
from apps.payments.services import reconciliation_run, refund_request, refund_submit, statement_import
from tests.payments.factories import PaymentFactory

pytestmark = pytest.mark.django_db
K = ReconciliationResult.Kind


@pytest.mark.parametrize("provider", ["wechat", "alipay"])
def test_each_difference_kind_is_found(sandbox, start_payment, paid_payment, provider):
    matched = paid_payment(provider=provider, amount="10.00")
    refunded = paid_payment(provider=provider, amount="50.00")
    refund = refund_request(
        out_trade_no=refunded.out_trade_no, amount=Decimal("20.00"), reason="", reference=f"R-{provider}", actor="t"
    )
    refund_submit(refund_id=refund.pk, actor="t")
    if provider == "wechat":  # WeChat answered PROCESSING; the sandbox already paid it out
        refund_submit(refund_id=refund.pk, actor="t")
    # Paid at the provider, the callback lost and no query yet: our payment still says created.
    not_applied = start_payment(provider=provider, amount="30.00")
    sandbox.pay(not_applied.out_trade_no, notify=False)
    # The provider took money for a trade we have no record of.
    unknown = start_payment(provider=provider, amount="7.00")
    sandbox.pay(unknown.out_trade_no, notify=False)
    Payment.objects.filter(pk=unknown.pk).delete()
    # We believe we were paid, the provider does not list it.
    phantom = PaymentFactory(provider=provider, status=PaymentStatus.SUCCEEDED, paid_at=timezone.now(), amount="15.00")
    # Both sides have it, with different amounts.
    differs = paid_payment(provider=provider, amount="40.00")
    Payment.objects.filter(pk=differs.pk).update(amount=Decimal("44.00"))

    statement = reconciliation_run(provider=provider, bill_date=timezone.localdate(), actor="system:beat")

    found = {(r.kind, r.line_kind, r.out_trade_no) for r in statement.results.all()}
    assert found == {
        (K.STATUS_MISMATCH, "payment", not_applied.out_trade_no),
        (K.MISSING_LOCAL, "payment", unknown.out_trade_no),
        (K.MISSING_REMOTE, "payment", phantom.out_trade_no),
        (K.AMOUNT_MISMATCH, "payment", differs.out_trade_no),
    }
    assert statement.line_count == 6  # five paid trades and one refund
    assert statement.mismatch_count == 4
    amounts = statement.results.get(kind=K.AMOUNT_MISMATCH)
    assert (amounts.local_amount, amounts.remote_amount) == (Decimal("44.00"), Decimal("40.00"))
    assert Refund.objects.get(pk=refund.pk).status == "succeeded"
    assert matched.out_trade_no not in {r[2] for r in found}


def test_refund_differences_and_reimport_replaces_results(sandbox, paid_payment):
    payment = paid_payment(provider="wechat", amount="60.00")
    refund = refund_request(
        out_trade_no=payment.out_trade_no, amount=Decimal("25.00"), reason="", reference="RR-1", actor="t"
    )
    refund_submit(refund_id=refund.pk, actor="t")  # PROCESSING locally, SUCCESS at the provider
    today = timezone.localdate()

    first = reconciliation_run(provider="wechat", bill_date=today, actor="t")
    assert [(r.kind, r.line_kind, r.refund_reference) for r in first.results.all()] == [
        (K.STATUS_MISMATCH, "refund", refund.out_refund_no)
    ]

    refund_submit(refund_id=refund.pk, actor="t")  # the query brings it to succeeded
    again = reconciliation_run(provider="wechat", bill_date=today, actor="t")
    assert again.pk == first.pk
    assert again.results.count() == 0
    assert Statement.objects.count() == 1


def test_wechat_bill_format_with_backticks_and_totals_is_parsed():
    bill = (
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
        "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
        "手续费,费率,订单金额,申请退款金额,费率备注\n"
        "`2026-11-20 10:00:00,`wx1,`190,`0,`,`4200001,`NOPE-1,`o1,`NATIVE,`SUCCESS,`CMB,`CNY,`12.34,`0.00,`0,`0,"
        "`0.00,`0.00,`,`,`goods,`,`0.07,`0.60%,`12.34,`0.00,`\n"
        "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n"
        "`1,`12.34,`0.00,`0.00,`0.07,`12.34,`0.00\n"
    ).encode()

    statement = statement_import(provider="wechat", bill_date=timezone.localdate(), data=bill, actor="admin:finance")

    line = statement.lines.get()
    assert (line.out_trade_no, line.amount, line.transaction_id) == ("NOPE-1", Decimal("12.34"), "4200001")
    assert statement.results.get().kind == K.MISSING_LOCAL


@pytest.mark.parametrize("provider", ["wechat", "alipay"])
def test_each_refund_difference_kind_is_found(sandbox, paid_payment, provider):
    payment = paid_payment(provider=provider, amount="60.00")

    def refund(reference: str, amount: str, *, send: bool = True) -> Refund:
        made = refund_request(
            out_trade_no=payment.out_trade_no, amount=Decimal(amount), reason="", reference=reference, actor="t"
        )
        for _answer in range(2 if send else 0):  # WeChat answers PROCESSING first, Alipay succeeds at once
            made = refund_submit(refund_id=made.pk, actor="t")
        return made

    matched = refund("M-1", "20.00")
    # The provider paid a refund we have no record of.
    unknown = refund("U-1", "10.00")
    Refund.objects.filter(pk=unknown.pk).delete()
    # We believe a refund succeeded that the provider never received.
    phantom = refund("P-1", "5.00", send=False)
    Refund.objects.filter(pk=phantom.pk).update(status="succeeded", succeeded_at=timezone.now())
    # Both sides have it, with different amounts.
    differs = refund("D-1", "15.00")
    Refund.objects.filter(pk=differs.pk).update(amount=Decimal("16.00"))
    assert Refund.objects.get(pk=matched.pk).status == "succeeded"

    statement = reconciliation_run(provider=provider, bill_date=timezone.localdate(), actor="system:beat")

    found = {(r.kind, r.line_kind, r.refund_reference) for r in statement.results.all()}
    assert found == {
        (K.MISSING_LOCAL, "refund", unknown.out_refund_no),
        (K.MISSING_REMOTE, "refund", phantom.out_refund_no),
        (K.AMOUNT_MISMATCH, "refund", differs.out_refund_no),
    }
    amounts = statement.results.get(kind=K.AMOUNT_MISMATCH)
    assert (amounts.local_amount, amounts.remote_amount) == (Decimal("16.00"), Decimal("15.00"))
    missing = statement.results.get(kind=K.MISSING_LOCAL)
    assert (missing.out_trade_no, missing.remote_amount) == (payment.out_trade_no, Decimal("10.00"))
    assert statement.results.get(kind=K.MISSING_REMOTE).local_amount == Decimal("5.00")
