"""Demo: the sandbox WeChat Pay / Alipay gateway and its keys.

``seed`` writes the merchant's and the sandbox's RSA keys to var/payments/ (once), which the
DEBUG defaults of the WECHATPAY_* / ALIPAY_* settings point at. ``PROCESSES`` runs the
gateway on port 8001; it pays every new trade after PAYMENT_SANDBOX_AUTOPAY_SECONDS (5 s by
default) and sends a real signed callback to PAYMENT_NOTIFY_BASE_URL, so a payment started
in the demo (``POST /api/v1/orders/<order_no>/payments``) completes on its own. Open the
``code_url`` / ``qr_code`` it returns to pay by hand instead.
"""

import sys
from typing import TextIO

from django.conf import settings
from django.utils.translation import gettext as _

from apps.payments.models import Payment
from apps.payments.sandbox.gateway import STATE_FILE, record_paid_trade
from apps.payments.sandbox.keys import ensure_sandbox_keys

PROCESSES = [("payment-sandbox", [sys.executable, "-m", "apps.payments.sandbox", "--port", "8001"])]


def seed(stdout: TextIO) -> None:
    directory = ensure_sandbox_keys(settings.VAR_DIR / "payments")
    stdout.write(
        _("Payments: sandbox keys in %(dir)s; gateway at %(url)s.\n")
        % {"dir": directory, "url": settings.WECHATPAY_GATEWAY_URL}
    )


def sandbox_record_payment(payment: Payment) -> None:
    """Make the sandbox know a payment that demo data marked paid without it, so that
    refunding it later succeeds at the sandbox as a real refund would at the provider."""
    record_paid_trade(
        settings.VAR_DIR / "payments" / STATE_FILE,
        provider=payment.provider,
        out_trade_no=payment.out_trade_no,
        amount=payment.amount,
        transaction_id=payment.transaction_id,
    )
