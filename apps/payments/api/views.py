"""Provider callbacks. No DRF authentication: each notification is verified by the provider's
signature instead, and answered in the form the provider expects (WeChat: JSON
``{"code": "SUCCESS"}`` or a 4xx/5xx ``FAIL``; Alipay: plain ``success`` / ``failure``)."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from apps.payments import services
from apps.payments.models import Provider


class _CallbackApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = ()
    # Answered in the provider's format (documented per view), not the API's error shape.
    foreign_error_format = True
    provider: str

    def post(self, request):
        reply = services.payment_notification_handle(
            provider=self.provider, headers=dict(request.headers), body=request.body
        )
        return HttpResponse(reply.body, status=reply.status, content_type=reply.content_type)


@extend_schema_view(post=extend_schema(operation_id="payments_callback_wechat"))
@extend_schema(
    summary="WeChat Pay v3 notification",
    description="Signed by WeChat Pay (Wechatpay-Signature); the resource is AES-256-GCM encrypted.",
    request=OpenApiTypes.OBJECT,
    responses={
        200: OpenApiResponse(description='{"code": "SUCCESS"}'),
        401: OpenApiResponse(description="Signature refused"),
    },
    auth=[],
)
class WechatCallbackApi(_CallbackApi):
    provider = Provider.WECHAT


@extend_schema_view(post=extend_schema(operation_id="payments_callback_alipay"))
@extend_schema(
    summary="Alipay asynchronous notification",
    description="Form post signed RSA2 by Alipay; answered with the plain text `success`.",
    request={"application/x-www-form-urlencoded": OpenApiTypes.OBJECT},
    responses={200: OpenApiResponse(description="success"), 401: OpenApiResponse(description="failure")},
    auth=[],
)
class AlipayCallbackApi(_CallbackApi):
    provider = Provider.ALIPAY
