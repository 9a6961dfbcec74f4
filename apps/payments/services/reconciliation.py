"""Reconciliation (对账): match a provider's daily statement against our payments and refunds.

Importing the same provider and date again replaces that statement's lines and results, so
a corrected statement or a re-run after fixing data gives the current picture.
"""

import logging
from datetime import date, datetime, time

from django.db import transaction
from django.utils import timezone

from apps.payments.models import (
    Payment,
    PaymentStatus,
    ReconciliationResult,
    Refund,
    RefundStatus,
    Statement,
    StatementLine,
)
from apps.payments.providers import get_provider
from apps.payments.providers.base import StatementRow

logger = logging.getLogger(__name__)
K = ReconciliationResult.Kind


def _day_bounds(bill_date: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    start = datetime.combine(bill_date, time.min, tzinfo=tz)
    return start, datetime.combine(bill_date, time.max, tzinfo=tz)


def statement_import(*, provider: str, bill_date: date, data: bytes, actor: str) -> Statement:
    """Parse ``data`` (the provider's CSV), store its lines and record every difference."""
    # Parsing a statement staff uploaded needs no credentials.
    rows = get_provider(provider, checked=False).parse_statement(data)
    with transaction.atomic():
        statement, _created = Statement.objects.select_for_update().get_or_create(
            provider=provider, bill_date=bill_date, defaults={"imported_by": actor}
        )
        statement.lines.all().delete()
        statement.results.all().delete()
        StatementLine.objects.bulk_create(
            [
                StatementLine(
                    statement=statement,
                    kind=row.kind,
                    out_trade_no=row.out_trade_no,
                    transaction_id=row.transaction_id,
                    refund_reference=row.refund_reference,
                    amount=row.amount,
                    status=row.status,
                    occurred_at=row.occurred_at,
                    raw=row.raw,
                )
                for row in rows
            ]
        )
        results = _match(statement, rows)
        ReconciliationResult.objects.bulk_create(results)
        statement.line_count = len(rows)
        statement.mismatch_count = len(results)
        statement.imported_by = actor
        statement.save(update_fields=["line_count", "mismatch_count", "imported_by", "imported_at"])
    logger.info("statement %s %s: %d lines, %d differences", provider, bill_date, len(rows), len(results))
    return statement


def _match(statement: Statement, rows: list[StatementRow]) -> list[ReconciliationResult]:
    results: list[ReconciliationResult] = []
    pay_rows = [r for r in rows if r.kind == StatementLine.Kind.PAYMENT]
    refund_rows = [r for r in rows if r.kind == StatementLine.Kind.REFUND]
    payments = Payment.objects.in_bulk([r.out_trade_no for r in pay_rows], field_name="out_trade_no")
    refunds = Refund.objects.in_bulk([r.refund_reference for r in refund_rows], field_name="out_refund_no")

    def result(kind, row_kind, *, out_trade_no, order_no="", reference="", local=None, remote=None, ls="", rs=""):
        results.append(
            ReconciliationResult(
                statement=statement,
                kind=kind,
                line_kind=row_kind,
                out_trade_no=out_trade_no,
                refund_reference=reference,
                order_no=order_no,
                local_amount=local,
                remote_amount=remote,
                local_status=ls,
                remote_status=rs,
            )
        )

    for row in pay_rows:
        payment = payments.get(row.out_trade_no)
        common = {"out_trade_no": row.out_trade_no, "remote": row.amount, "rs": row.status}
        if payment is None:
            result(K.MISSING_LOCAL, "payment", **common)
        elif payment.status != PaymentStatus.SUCCEEDED:
            result(
                K.STATUS_MISMATCH,
                "payment",
                order_no=payment.order_no,
                local=payment.amount,
                ls=payment.status,
                **common,
            )
        elif payment.amount != row.amount:
            result(
                K.AMOUNT_MISMATCH,
                "payment",
                order_no=payment.order_no,
                local=payment.amount,
                ls=payment.status,
                **common,
            )
    for row in refund_rows:
        refund = refunds.get(row.refund_reference)
        common = {
            "out_trade_no": row.out_trade_no,
            "reference": row.refund_reference,
            "remote": row.amount,
            "rs": row.status,
        }
        if refund is None:
            result(K.MISSING_LOCAL, "refund", **common)
        elif refund.status != RefundStatus.SUCCEEDED:
            result(
                K.STATUS_MISMATCH, "refund", order_no=refund.order_no, local=refund.amount, ls=refund.status, **common
            )
        elif refund.amount != row.amount:
            result(
                K.AMOUNT_MISMATCH, "refund", order_no=refund.order_no, local=refund.amount, ls=refund.status, **common
            )

    start, end = _day_bounds(statement.bill_date)
    seen_trades = {r.out_trade_no for r in pay_rows}
    for payment in Payment.objects.filter(
        provider=statement.provider, status=PaymentStatus.SUCCEEDED, paid_at__range=(start, end)
    ).exclude(out_trade_no__in=seen_trades):
        result(
            K.MISSING_REMOTE,
            "payment",
            out_trade_no=payment.out_trade_no,
            order_no=payment.order_no,
            local=payment.amount,
            ls=payment.status,
        )
    seen_refunds = {r.refund_reference for r in refund_rows}
    for refund in (
        Refund.objects.filter(
            payment__provider=statement.provider, status=RefundStatus.SUCCEEDED, succeeded_at__range=(start, end)
        )
        .exclude(out_refund_no__in=seen_refunds)
        .select_related("payment")
    ):
        result(
            K.MISSING_REMOTE,
            "refund",
            out_trade_no=refund.payment.out_trade_no,
            reference=refund.out_refund_no,
            order_no=refund.order_no,
            local=refund.amount,
            ls=refund.status,
        )
    return results


def reconciliation_run(*, provider: str, bill_date: date, actor: str) -> Statement:
    """Fetch the provider's statement for ``bill_date`` and import it (the daily beat job)."""
    data = get_provider(provider).fetch_statement(bill_date=bill_date)
    return statement_import(provider=provider, bill_date=bill_date, data=data, actor=actor)
