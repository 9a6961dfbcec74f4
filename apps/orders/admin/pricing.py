"""Storefront pricing: per-shop prices and the discount each shop may grant."""

from django.contrib import admin

from apps.orders.models import ShopDiscountPolicy, ShopPrice


@admin.register(ShopPrice)
class ShopPriceAdmin(admin.ModelAdmin):
    """Per-shop prices: the shop's storefront orders are priced at them instead of the list price."""

    list_display = ("shop", "sku", "price", "updated_at")
    list_select_related = ("shop", "sku")
    list_filter = ("shop",)
    search_fields = ("sku__code", "sku__name", "shop__code")
    autocomplete_fields = ("shop", "sku")


@admin.register(ShopDiscountPolicy)
class ShopDiscountPolicyAdmin(admin.ModelAdmin):
    """The discount a shop's storefront may grant per order; a shop without one grants none."""

    list_display = ("shop", "max_rate", "max_amount")
    list_select_related = ("shop",)
    autocomplete_fields = ("shop",)
