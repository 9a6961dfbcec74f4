"""Every write to inventory. Other apps import from here (see docs/ARCHITECTURE.md)."""

from apps.core.db import retry_on_deadlock
from apps.inventory.domain import (
    Allocation,
    Destination,
    Inspection,
    InsufficientStock,
    Package,
    Shortage,
    StockRequest,
)
from apps.inventory.gate import gate_check
from apps.inventory.selectors import reservations_for
from apps.inventory.services.alerts import stock_low_alerts_scan
from apps.inventory.services.batch import BatchRaced, BatchReservation, ReserveItem, stock_reserve_many
from apps.inventory.services.movements import (
    stock_adjust,
    stock_receive,
    stock_return_to_stock,
    stock_transfer_receive,
    stock_transfer_ship,
)
from apps.inventory.services.reservations import (
    reservation_claims_purge,
    stock_consume,
    stock_reallocate,
    stock_release,
    stock_reserve,
    stock_resource,
)
from apps.inventory.sourcing import sourcing_plan, warehouses_to_leave, warehouses_to_leave_many

__all__ = [
    "Allocation",
    "BatchRaced",
    "BatchReservation",
    "Destination",
    "Inspection",
    "InsufficientStock",
    "Package",
    "ReserveItem",
    "Shortage",
    "StockRequest",
    "gate_check",
    "reservation_claims_purge",
    "reservations_for",
    "retry_on_deadlock",
    "sourcing_plan",
    "stock_adjust",
    "stock_consume",
    "stock_low_alerts_scan",
    "stock_reallocate",
    "stock_receive",
    "stock_release",
    "stock_reserve",
    "stock_reserve_many",
    "stock_resource",
    "stock_return_to_stock",
    "stock_transfer_receive",
    "stock_transfer_ship",
    "warehouses_to_leave",
    "warehouses_to_leave_many",
]
