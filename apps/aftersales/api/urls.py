from django.urls import path

from apps.aftersales.api.views import (
    AfterSaleCancelApi,
    AfterSaleCreateApi,
    AfterSaleDetailApi,
    AfterSaleReturnShipmentApi,
)

urlpatterns = [
    path("aftersales", AfterSaleCreateApi.as_view(), name="aftersale-create"),
    path("aftersales/<str:aftersale_no>", AfterSaleDetailApi.as_view(), name="aftersale-detail"),
    path("aftersales/<str:aftersale_no>/cancel", AfterSaleCancelApi.as_view(), name="aftersale-cancel"),
    path(
        "aftersales/<str:aftersale_no>/return-shipment",
        AfterSaleReturnShipmentApi.as_view(),
        name="aftersale-return-shipment",
    ),
]
