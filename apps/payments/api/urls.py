from django.urls import path

from apps.payments.api.views import AlipayCallbackApi, WechatCallbackApi

urlpatterns = [
    path("payments/callbacks/wechat", WechatCallbackApi.as_view(), name="payments-callback-wechat"),
    path("payments/callbacks/alipay", AlipayCallbackApi.as_view(), name="payments-callback-alipay"),
]
