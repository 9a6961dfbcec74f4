from django.urls import path

from apps.inventory.api import views

urlpatterns = [
    path("skus/<str:code>/stock", views.SkuStockApi.as_view(), name="sku-stock"),
]
