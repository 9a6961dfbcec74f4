"""Outcomes other apps report (through the outbox consumers): a refund settled, a replacement
shipped."""

from django.db import transaction
from django.utils.translation import gettext as _

from apps.aftersales.models import AfterSale
from apps.aftersales.services.aftersales.common import A, _apply, aftersale_no_from_reference
from apps.core.alerts import alert_resolve
from apps.core.money import ZERO
from apps.payments.selectors import refund_request_state


def aftersale_refund_settled(*, order_no: str, reference: str, actor: str) -> AfterSale | None:
    """A refund row finished at the provider (succeeded or failed: the request's rows are read
    again). Idempotent: a repeated event changes nothing. Returns the after-sale it settled.

    Our own refunds carry ``AS:<no>[:attempt]``; the refund ``order_cancel`` makes when it
    intercepts an order (``cancel:<order_no>``) settles the after-sale that cancelled it.
    Only the after-sale's current refund reference counts: an older attempt changes nothing.
    A request split over several payments settles once none of its rows is still under way:
    completed when all succeeded, failed (with what did go back kept in ``refunded_amount``,
    so a retry asks only for the rest) when one failed. A success reported for a refund we
    had marked failed (and not retried) completes the after-sale once nothing failed remains.
    """
    with transaction.atomic():
        aftersale_no = aftersale_no_from_reference(reference)
        query = AfterSale.objects.select_for_update().filter(order__order_no=order_no, refund_reference=reference)
        if aftersale_no is not None:
            query = query.filter(aftersale_no=aftersale_no)
        aftersale = query.order_by("pk").first()
        if aftersale is None or aftersale.status not in (A.REFUNDING, A.REFUND_FAILED):
            return None
        state = refund_request_state(reference)
        if state.open > ZERO:
            return None  # another part of the request is still on its way
        refunded = aftersale.refunded_before_attempt + state.succeeded
        changed = refunded != aftersale.refunded_amount
        aftersale.refunded_amount = refunded
        if state.failed > ZERO:
            if aftersale.status == A.REFUND_FAILED:
                if changed:
                    aftersale.save(update_fields=["refunded_amount"])
                return None
            return _apply(
                aftersale,
                "fail_refund",
                actor=actor,
                remark=_("The refund failed at the payment provider; retry it."),
                update_fields=("refunded_amount",),
            )
        if aftersale.status == A.REFUND_FAILED:
            # The provider reported success after we marked the refund failed: the money went back.
            alert_resolve(dedup_key=f"aftersale-refund-failed:{aftersale.aftersale_no}")
        return _apply(
            aftersale,
            "finish_refund",
            actor=actor,
            remark=_("%(amount)s refunded.") % {"amount": state.succeeded},
            update_fields=("refunded_amount",),
        )


def aftersale_replacement_shipped(*, aftersale_no: str, fulfillment_no: str, actor: str) -> AfterSale | None:
    """The replacement fulfillment left the warehouse: the after-sale is done. Idempotent."""
    with transaction.atomic():
        aftersale = AfterSale.objects.select_for_update().filter(aftersale_no=aftersale_no).first()
        if aftersale is None or aftersale.status != A.SHIPPING or aftersale.fulfillment_no != fulfillment_no:
            return None
        return _apply(
            aftersale, "finish_shipping", actor=actor, remark=_("Fulfillment %(no)s shipped.") % {"no": fulfillment_no}
        )
