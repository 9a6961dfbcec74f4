"""The values inventory exchanges with other apps (see docs/ARCHITECTURE.md, inventory)."""

from dataclasses import dataclass, field
from enum import StrEnum

from django.utils.translation import gettext as _

from apps.core.exceptions import Conflict
from apps.inventory.error_codes import InventoryErrorCode


@dataclass(frozen=True)
class StockRequest:
    sku_id: int
    quantity: int
    line_reference: str = ""


@dataclass(frozen=True)
class Destination:
    province: str
    city: str = ""


@dataclass(frozen=True)
class Allocation:
    line_reference: str
    sku_id: int
    warehouse_id: int
    quantity: int


@dataclass(frozen=True)
class Package:
    """One parcel of a sourcing plan: what one warehouse ships."""

    warehouse_id: int
    allocations: tuple[Allocation, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Shortage:
    sku_id: int
    requested: int
    available: int
    sku_code: str = ""


class Inspection(StrEnum):
    """The verdict on returned goods: sellable goods go back on the shelf, damaged do not."""

    SELLABLE = "sellable"
    DAMAGED = "damaged"


class InsufficientStock(Conflict):
    """One refusal naming every short SKU: ``extra = {"shortages": [...]}`` (HTTP 409)."""

    def __init__(self, shortages: list[Shortage]):
        self.shortages = shortages
        codes = ", ".join(s.sku_code or str(s.sku_id) for s in shortages)
        super().__init__(
            InventoryErrorCode.INSUFFICIENT_STOCK,
            _("Not enough stock for: %(skus)s.") % {"skus": codes},
            {
                "shortages": [
                    {"sku_id": s.sku_id, "sku_code": s.sku_code, "requested": s.requested, "available": s.available}
                    for s in shortages
                ]
            },
        )
