"""The daily reconciliation task: a provider name and an ISO date in, the statement matched."""

import pytest
from django.utils import timezone

from apps.payments.models import ReconciliationResult, Statement
from apps.payments.tasks import reconciliation_run_task

pytestmark = pytest.mark.django_db


def test_reconciliation_task_fetches_and_matches_the_days_statement(sandbox, start_payment):
    payment = start_payment(provider="alipay", amount="8.80")
    sandbox.pay(payment.out_trade_no, notify=False)  # paid at Alipay, callback lost

    mismatches = reconciliation_run_task.apply(args=("alipay", timezone.localdate().isoformat())).get()

    assert mismatches == 1
    result = Statement.objects.get(provider="alipay").results.get()
    assert (result.kind, result.out_trade_no) == (ReconciliationResult.Kind.STATUS_MISMATCH, payment.out_trade_no)
