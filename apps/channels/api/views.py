from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.channels import services
from apps.channels.api.serializers import PushResponseSerializer
from apps.channels.error_codes import ChannelErrorCode
from apps.core.api.scoping import operator_name
from apps.core.exceptions import ApplicationError
from apps.shops.authentication import caller_shop


class RawOrderPushApi(APIView):
    """Platforms push orders in their own format (one object or a list of them).

    Signed as the shop (app key + HMAC); a shop may push only to its own code. The orders
    are stored as raw orders and answered 202 before conversion, which a worker does next.
    """

    rate_limit_kind = "push"
    error_codes = {
        "post": {
            400: [ChannelErrorCode.PUSH_NOT_SUPPORTED, ChannelErrorCode.BATCH_TOO_LARGE],
            403: [ChannelErrorCode.SHOP_MISMATCH],
            422: [ChannelErrorCode.INVALID_PAYLOAD],
        }
    }

    @extend_schema(
        operation_id="channels_orders_push",
        request=OpenApiTypes.OBJECT,
        responses={202: PushResponseSerializer},
    )
    def post(self, request, shop_code: str):
        shop = caller_shop(request)
        if shop is None or shop.code != shop_code:
            raise ApplicationError(
                ChannelErrorCode.SHOP_MISMATCH,
                _("Orders can only be pushed to the shop the request is signed for."),
                status_code=status.HTTP_403_FORBIDDEN,
            )
        payloads = request.data if isinstance(request.data, list) else [request.data]
        if len(payloads) > settings.CHANNEL_PUSH_MAX_BATCH:
            raise ApplicationError(
                ChannelErrorCode.BATCH_TOO_LARGE,
                _("Push at most %(max)d orders at a time.") % {"max": settings.CHANNEL_PUSH_MAX_BATCH},
            )
        results = services.raw_orders_receive(shop=shop, payloads=payloads, actor=operator_name(request))
        body = {
            "accepted": len(results),
            "results": [
                {"platform_order_id": r.platform_order_id, "raw_order_id": r.raw_order_id, "outcome": r.outcome}
                for r in results
            ],
        }
        return Response(PushResponseSerializer(body).data, status=status.HTTP_202_ACCEPTED)
