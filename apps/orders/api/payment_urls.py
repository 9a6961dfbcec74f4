from django.urls import re_path

from apps.orders.api.payment_views import OrderPaymentStartApi

urlpatterns = [
    re_path(r"^orders/(?P<order_no>[^/]+)/payments$", OrderPaymentStartApi.as_view(), name="order-payment-start"),
]
