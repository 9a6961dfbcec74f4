"""Orders admin: orders (``orders``, with its action ``forms`` and ``personal_data`` masking),
parcels (``fulfillments``), blacklisted phones (``blacklist``), storefront prices and discount
policies (``pricing``) and the reports dashboard (``reports``)."""

from apps.orders.admin import blacklist, fulfillments, orders, pricing, reports  # noqa: F401
