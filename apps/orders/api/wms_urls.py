from django.urls import path

from apps.orders.api.wms_views import FulfillmentShippedApi, OrderDeliveryApi

urlpatterns = [
    path(
        "wms/fulfillments/<str:fulfillment_no>/shipped", FulfillmentShippedApi.as_view(), name="wms-fulfillment-shipped"
    ),
    path("wms/orders/<str:order_no>/delivery", OrderDeliveryApi.as_view(), name="wms-order-delivery"),
]
