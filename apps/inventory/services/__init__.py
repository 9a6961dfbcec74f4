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
from apps.inventory.gate import gate_check, gate_check_codes
from apps.inventory.selectors import reservations_for
from apps.inventory.services.alerts import stock_low_alerts_scan
from apps.inventory.services.movements import (
    stock_adjust,
    stock_receive,
    stock_return_to_stock,
    stock_transfer_receive,
    stock_transfer_ship,
)
from apps.inventory.services.planning import (
    BatchReservation,
    ReservationPlan,
    ReserveItem,
    stock_plan,
    stock_plan_abandon,
    stock_plan_record,
    stock_plan_take,
)
from apps.inventory.services.reservations import (
    reservation_claims_purge,
    stock_consume,
    stock_reallocate,
    stock_release,
    stock_reserve,
    stock_reserve_many,
    stock_resource,
)
from apps.inventory.sourcing import sourcing_plan, warehouses_to_leave, warehouses_to_leave_many

__all__ = [
    "Allocation",
    "BatchReservation",
    "Destination",
    "Inspection",
    "InsufficientStock",
    "Package",
    "ReservationPlan",
    "ReserveItem",
    "Shortage",
    "StockRequest",
    "gate_check",
    "gate_check_codes",
    "reservation_claims_purge",
    "reservations_for",
    "retry_on_deadlock",
    "sourcing_plan",
    "stock_adjust",
    "stock_consume",
    "stock_low_alerts_scan",
    "stock_plan",
    "stock_plan_abandon",
    "stock_plan_record",
    "stock_plan_take",
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
