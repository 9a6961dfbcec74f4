"""Outcomes other apps report (through the outbox consumers): a refund settled, a replacement
shipped."""

from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from apps.aftersales.models import AfterSale
from apps.aftersales.services.aftersales.common import A, _apply, aftersale_no_from_reference
from apps.core.alerts import alert_resolve
from apps.core.money import to_money


def aftersale_refund_settled(
    *, order_no: str, reference: str, amount: Decimal, succeeded: bool, actor: str
) -> AfterSale | None:
    """A refund finished at the provider. Idempotent: a repeated event changes nothing.

    Our own refunds carry ``AS:<no>[:attempt]``; the refund ``order_cancel`` makes when it
    intercepts an order (``cancel:<order_no>``) settles the after-sale that cancelled it.
    Only the after-sale's current refund reference counts: an older attempt changes nothing.
    A success reported for a refund we had marked failed (and not retried) completes it.
    """
    with transaction.atomic():
        aftersale_no = aftersale_no_from_reference(reference)
        query = AfterSale.objects.select_for_update().filter(order__order_no=order_no, refund_reference=reference)
        if aftersale_no is not None:
            query = query.filter(aftersale_no=aftersale_no)
        aftersale = query.order_by("pk").first()
        if aftersale is None:
            return None
        if succeeded and aftersale.status == A.REFUND_FAILED:
            # The provider reported success after we marked the refund failed: the money went back.
            alert_resolve(dedup_key=f"aftersale-refund-failed:{aftersale.aftersale_no}")
        elif aftersale.status != A.REFUNDING:
            return None
        if not succeeded:
            return _apply(
                aftersale,
                "fail_refund",
                actor=actor,
                remark=_("The refund failed at the payment provider; retry it."),
            )
        aftersale.refunded_amount = to_money(aftersale.refunded_amount + to_money(amount))
        return _apply(
            aftersale,
            "finish_refund",
            actor=actor,
            remark=_("%(amount)s refunded.") % {"amount": to_money(amount)},
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
