"""After-sale services: open, approve, reject, cancel, receive, refund, ship a replacement.

Every change locks the after-sale row (opening one locks the order row, so two requests on
the same order cannot both pass the quantity and amount checks), runs the django-fsm
transition, writes an ``AfterSaleLog`` row and publishes ``aftersale.<status>`` in the same
transaction. The effects go through the other apps' services: ``order_cancel`` /
``order_request_refund`` (orders), ``refund_request_for_order`` (payments: the refund goes
back through the payments that hold the order's money, idempotent by the reference
``AS:<aftersale_no>``), ``stock_return_to_stock`` (inventory) and
``fulfillment_create_extra`` (orders, which reserves and later consumes the stock).
"""

from apps.aftersales.services.aftersales.common import (
    AfterSaleLineInput,
    aftersale_no_from_reference,
    aftersale_reference,
    committed_quantities,
    paid_on_platform,
    refundable_amount,
)
from apps.aftersales.services.aftersales.create import aftersale_create
from apps.aftersales.services.aftersales.outcomes import aftersale_refund_settled, aftersale_replacement_shipped
from apps.aftersales.services.aftersales.settle import (
    aftersale_needs_platform_refund,
    aftersale_refund,
    aftersale_ship_replacement,
    platform_refund_notice,
)
from apps.aftersales.services.aftersales.steps import (
    aftersale_approve,
    aftersale_cancel,
    aftersale_receive,
    aftersale_reject,
    aftersale_return_shipment,
)

__all__ = [
    "AfterSaleLineInput",
    "aftersale_approve",
    "aftersale_cancel",
    "aftersale_create",
    "aftersale_needs_platform_refund",
    "aftersale_no_from_reference",
    "aftersale_receive",
    "aftersale_reference",
    "aftersale_refund",
    "aftersale_refund_settled",
    "aftersale_reject",
    "aftersale_replacement_shipped",
    "aftersale_return_shipment",
    "aftersale_ship_replacement",
    "committed_quantities",
    "paid_on_platform",
    "platform_refund_notice",
    "refundable_amount",
]
