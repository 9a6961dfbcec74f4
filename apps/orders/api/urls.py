from django.urls import path, re_path

from apps.orders.api import views

# Any segment: an order number that cannot exist is answered order_not_found like any unknown one.
ORDER = r"^orders/(?P<order_no>[^/]+)"

urlpatterns = [
    path("orders", views.OrderListCreateApi.as_view(), name="order-list"),
    re_path(rf"{ORDER}$", views.OrderDetailApi.as_view(), name="order-detail"),
    re_path(rf"{ORDER}/history$", views.OrderHistoryApi.as_view(), name="order-history"),
    re_path(rf"{ORDER}/cancel$", views.OrderCancelApi.as_view(), name="order-cancel"),
    re_path(rf"{ORDER}/address$", views.OrderAddressUpdateApi.as_view(), name="order-address"),
    re_path(rf"{ORDER}/remark$", views.OrderRemarkUpdateApi.as_view(), name="order-remark"),
    re_path(rf"{ORDER}/lines$", views.OrderLinesChangeApi.as_view(), name="order-lines"),
]
