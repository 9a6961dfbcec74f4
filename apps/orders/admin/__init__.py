"""Orders admin: order screens (``orders``) and the reports dashboard (``reports``)."""

from apps.orders.admin import orders, reports  # noqa: F401
