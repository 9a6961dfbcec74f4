"""Orders admin: orders (``orders``, with its action ``forms`` and ``personal_data`` masking),
parcels (``fulfillments``), blacklisted phones (``blacklist``) and the reports dashboard
(``reports``)."""

from apps.orders.admin import blacklist, fulfillments, orders, reports  # noqa: F401
