"""Order tasks: thin wrappers that load ids and call a service; all idempotent."""

from celery import shared_task

from apps.orders.services import order_expire, order_expire_overdue, orders_archive, orders_retry_out_of_stock
from apps.orders.services.fulfillment import fulfillments_dispatch_due, orders_complete_delivered
from apps.orders.services.merge import fulfillment_merge_and_submit, fulfillments_merge
from apps.orders.wms import WmsUnavailable


@shared_task(name="orders.order_expire", acks_late=True, ignore_result=True)
def order_expire_task(*, order_no: str) -> bool:
    """Countdown to an order's payment deadline; does nothing if it was paid or closed."""
    return order_expire(order_no=order_no, actor="system:payment-timeout") is not None


@shared_task(name="orders.expire_overdue", acks_late=True, ignore_result=True)
def order_expire_overdue_task() -> int:
    """Every minute: close unpaid orders past their deadline whose countdown was lost."""
    return len(order_expire_overdue(actor="system:beat"))


@shared_task(
    name="orders.fulfillment_submit",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(WmsUnavailable,),
    retry_backoff=10,
    retry_backoff_max=600,
    max_retries=5,
)
def fulfillment_submit_task(*, fulfillment_no: str) -> bool:
    """Send one fulfillment (merged with its peers) to the WMS once its merge hold is over;
    a no-op before then and once it is sent, shipped or cancelled."""
    fulfillment = fulfillment_merge_and_submit(fulfillment_no=fulfillment_no, actor="system:wms")
    return fulfillment is not None and fulfillment.status == "sent_to_wms"


@shared_task(name="orders.fulfillments_dispatch", acks_late=True, ignore_result=True)
def fulfillments_dispatch_task() -> int:
    """Every minute: send due pending fulfillments to the WMS (backstop for lost submit tasks)."""
    return fulfillments_dispatch_due(actor="system:beat")


@shared_task(name="orders.fulfillments_merge", acks_late=True, ignore_result=True)
def fulfillments_merge_task() -> int:
    """Every few minutes: merge pending fulfillments of the same buyer and address (合单)."""
    return len(fulfillments_merge(actor="system:beat"))


@shared_task(name="orders.retry_out_of_stock", acks_late=True, ignore_result=True)
def orders_retry_out_of_stock_task() -> int:
    """Every 3 minutes: orders held as out of stock reserve, oldest first, once stock is received."""
    return len(orders_retry_out_of_stock(actor="system:beat"))


@shared_task(name="orders.complete_delivered", acks_late=True, ignore_result=True)
def orders_complete_delivered_task() -> int:
    """Hourly: complete orders delivered more than ORDER_AUTO_COMPLETE_DAYS ago."""
    return len(orders_complete_delivered(actor="system:beat"))


@shared_task(name="orders.reports_build", acks_late=True, ignore_result=True)
def reports_build_task() -> int:
    """Hourly: rebuild yesterday, today and every day an order changed since the last run
    touched, with their weeks (rebuilding replaces; see docs/search.md)."""
    from django.utils import timezone

    from apps.orders.reports.services import reports_build_recent

    return len(reports_build_recent(today=timezone.localdate(), actor="system:beat"))


@shared_task(name="orders.archive", queue="default", acks_late=True, ignore_result=True)
def orders_archive_task() -> int:
    """Daily: finished orders idle for ORDER_ARCHIVE_AFTER_MONTHS move to the archive tables."""
    return orders_archive(actor="system:archive")
