"""After-sales services: ``aftersales`` (after-sale requests) and ``workorders`` (工单)."""
