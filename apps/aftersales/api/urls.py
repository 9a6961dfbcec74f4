from django.urls import path

from apps.aftersales.api.views import (
    AfterSaleCancelApi,
    AfterSaleDetailApi,
    AfterSaleListCreateApi,
    AfterSaleReturnShipmentApi,
)

urlpatterns = [
    path("aftersales", AfterSaleListCreateApi.as_view(), name="aftersale-list-create"),
    path("aftersales/<str:aftersale_no>", AfterSaleDetailApi.as_view(), name="aftersale-detail"),
    path("aftersales/<str:aftersale_no>/cancel", AfterSaleCancelApi.as_view(), name="aftersale-cancel"),
    path(
        "aftersales/<str:aftersale_no>/return-shipment",
        AfterSaleReturnShipmentApi.as_view(),
        name="aftersale-return-shipment",
    ),
]
