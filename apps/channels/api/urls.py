from django.urls import path

from apps.channels.api.views import RawOrderPushApi

urlpatterns = [
    path("channels/<str:shop_code>/orders", RawOrderPushApi.as_view(), name="channels-orders-push"),
]
