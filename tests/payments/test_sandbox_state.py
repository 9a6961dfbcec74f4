"""The demo sandbox remembers trades across restarts (its state file), so a payment made
before `make demo` was restarted, or marked paid by the demo seed, can still be refunded."""

from decimal import Decimal

import pytest

from apps.core.numbers import next_number
from apps.payments.models import Payment, RefundStatus
from apps.payments.providers.base import TradeResult, TradeState
from apps.payments.sandbox.gateway import SandboxConfig, record_paid_trade
from apps.payments.sandbox.server import serve_in_thread
from apps.payments.services import payment_apply_trade, payment_start, refund_request, refund_submit


def restart(old_gateway, state_file, settings):
    """A fresh sandbox with the same keys, loading the state file; the provider points at it."""
    config = SandboxConfig(keys_dir=old_gateway.config.keys_dir, send_notifications=False, state_file=state_file)
    gateway, server = serve_in_thread(config)
    settings.WECHATPAY_GATEWAY_URL = config.public_url
    return gateway, server


@pytest.mark.django_db
def test_a_restarted_sandbox_refunds_a_payment_made_before_the_restart(sandbox, tmp_path, settings):
    state_file = tmp_path / "state.json"
    sandbox.config.state_file = state_file
    payment = payment_start(
        order_no=next_number(), amount=Decimal("88.00"), provider="wechat", description="d", actor="t"
    ).payment
    sandbox.pay(payment.out_trade_no, notify=False)
    payment_apply_trade(
        trade=TradeResult(
            out_trade_no=payment.out_trade_no, state=TradeState.PAID, amount=Decimal("88.00"), transaction_id="T1"
        ),
        actor="t",
    )

    gateway, server = restart(sandbox, state_file, settings)
    try:
        refund = refund_request(
            out_trade_no=payment.out_trade_no, amount=Decimal("88.00"), reason="", reference="R1", actor="t"
        )
        refund = refund_submit(refund_id=refund.pk, actor="t")
    finally:
        server.shutdown()
        server.server_close()

    assert gateway.trades[payment.out_trade_no].status == "SUCCESS"
    assert refund.status in (RefundStatus.PROCESSING, RefundStatus.SUCCEEDED)
    assert refund.provider_refund_id


@pytest.mark.django_db
def test_a_payment_recorded_by_the_demo_seed_can_be_refunded(sandbox, tmp_path, settings):
    state_file = tmp_path / "state.json"
    payment = Payment.objects.create(
        order_no=next_number(), provider="wechat", out_trade_no=next_number(), amount=Decimal("59.00"), created_by="t"
    )
    payment_apply_trade(
        trade=TradeResult(
            out_trade_no=payment.out_trade_no, state=TradeState.PAID, amount=Decimal("59.00"), transaction_id="D1"
        ),
        actor="t",
    )
    record_paid_trade(
        state_file, provider="wechat", out_trade_no=payment.out_trade_no, amount=Decimal("59.00"), transaction_id="D1"
    )

    gateway, server = restart(sandbox, state_file, settings)
    try:
        refund = refund_request(
            out_trade_no=payment.out_trade_no, amount=Decimal("20.00"), reason="", reference="R2", actor="t"
        )
        refund = refund_submit(refund_id=refund.pk, actor="t")
    finally:
        server.shutdown()
        server.server_close()

    assert refund.status in (RefundStatus.PROCESSING, RefundStatus.SUCCEEDED)
    assert gateway.refunds
