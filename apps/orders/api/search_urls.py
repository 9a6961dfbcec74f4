from django.urls import path

from apps.orders.api.search_views import OrderSearchApi

urlpatterns = [
    path("orders/search", OrderSearchApi.as_view(), name="orders-search"),
]
