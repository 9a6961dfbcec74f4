"""The API a WMS or carrier calls: a parcel shipped, an order's delivery progressed.

The WMS signs its requests like a platform does (``apps.core.signatures``) with
``WMS_APP_KEY`` / ``WMS_APP_SECRET``; staff may call the same endpoints from a session if
they hold ``orders.change_fulfillment``. Both calls are idempotent: a repeated report
answers 200 with the current state.
"""

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import authentication, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.authentication import SignedRequestAuthentication
from apps.orders.api.serializers import StrictSerializer
from apps.orders.error_codes import OrderErrorCode
from apps.orders.models import FulfillmentLine
from apps.orders.services.fulfillment import (
    DELIVERY_STATUSES,
    FulfillmentErrorCode,
    fulfillment_mark_shipped,
    order_delivery_update,
)


class WmsClient(AnonymousUser):
    """The caller behind a request signed with the WMS key."""

    @property
    def is_authenticated(self) -> bool:
        return True

    def __str__(self) -> str:
        return "wms"


class WmsSignatureAuthentication(SignedRequestAuthentication):
    """Accepts requests signed with the WMS key; without ``X-App-Key`` the session decides."""

    caller_kind = "WMS request"

    def resolve(self, app_key: str):
        if not settings.WMS_APP_KEY or not settings.WMS_APP_SECRET or app_key != settings.WMS_APP_KEY:
            return None
        return WmsClient(), None, settings.WMS_APP_SECRET


class IsWmsOrFulfillmentStaff(permissions.BasePermission):
    message = gettext_lazy("Only the WMS or staff allowed to change fulfillments may do this.")

    def has_permission(self, request, view) -> bool:
        if isinstance(request.user, WmsClient):
            return True
        return bool(
            request.user and request.user.is_authenticated and request.user.has_perm("orders.change_fulfillment")
        )


def wms_actor(request: Request) -> str:
    if isinstance(request.user, WmsClient):
        return f"wms:{settings.WMS_APP_KEY}"
    return f"admin:{request.user.get_username()}"


class WmsApi(APIView):
    authentication_classes = [WmsSignatureAuthentication, authentication.SessionAuthentication]
    permission_classes = [IsWmsOrFulfillmentStaff]


class FulfillmentShippedApi(WmsApi):
    error_codes = {
        "post": {
            400: [FulfillmentErrorCode.TRACKING_REQUIRED],
            404: [FulfillmentErrorCode.FULFILLMENT_NOT_FOUND],
            409: [FulfillmentErrorCode.ALREADY_SHIPPED, FulfillmentErrorCode.FULFILLMENT_CANCELLED],
        }
    }

    class FulfillmentShippedInputSerializer(StrictSerializer):
        carrier = serializers.CharField(max_length=32)
        tracking_no = serializers.CharField(max_length=64)

    class FulfillmentShippedOutputSerializer(serializers.Serializer):
        fulfillment_no = serializers.CharField()
        status = serializers.CharField()
        carrier = serializers.CharField()
        tracking_no = serializers.CharField()
        shipped_at = serializers.DateTimeField()
        order_nos = serializers.ListField(child=serializers.CharField())

    @extend_schema(
        operation_id="wms_fulfillment_shipped",
        request=FulfillmentShippedInputSerializer,
        responses={200: FulfillmentShippedOutputSerializer},
        summary="A WMS reports that a fulfillment left the warehouse",
        tags=["wms"],
    )
    def post(self, request: Request, fulfillment_no: str) -> Response:
        data = self.FulfillmentShippedInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fulfillment = fulfillment_mark_shipped(
            fulfillment_no=fulfillment_no,
            carrier=data.validated_data["carrier"],
            tracking_no=data.validated_data["tracking_no"],
            actor=wms_actor(request),
        )
        order_nos = sorted(
            set(
                FulfillmentLine.objects.filter(fulfillment=fulfillment).values_list(
                    "order_line__order__order_no", flat=True
                )
            )
        )
        output = {
            "fulfillment_no": fulfillment.fulfillment_no,
            "status": fulfillment.status,
            "carrier": fulfillment.carrier,
            "tracking_no": fulfillment.tracking_no,
            "shipped_at": fulfillment.shipped_at,
            "order_nos": order_nos,
        }
        return Response(self.FulfillmentShippedOutputSerializer(output).data)


class OrderDeliveryApi(WmsApi):
    error_codes = {
        "post": {
            400: [FulfillmentErrorCode.INVALID_DELIVERY_STATUS],
            404: [OrderErrorCode.ORDER_NOT_FOUND],
            409: [FulfillmentErrorCode.INVALID_DELIVERY_STATUS, "invalid_transition"],
        }
    }

    class OrderDeliveryInputSerializer(StrictSerializer):
        status = serializers.ChoiceField(choices=[str(s) for s in DELIVERY_STATUSES])
        remark = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    class OrderDeliveryOutputSerializer(serializers.Serializer):
        order_no = serializers.CharField()
        status = serializers.CharField()
        delivered_at = serializers.DateTimeField(allow_null=True)

    @extend_schema(
        operation_id="wms_order_delivery",
        request=OrderDeliveryInputSerializer,
        responses={200: OrderDeliveryOutputSerializer},
        summary="A carrier reports delivery progress (delivering, delivered, delivery_failed)",
        tags=["wms"],
    )
    def post(self, request: Request, order_no: str) -> Response:
        data = self.OrderDeliveryInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = order_delivery_update(
            order_no=order_no,
            status=data.validated_data["status"],
            actor=wms_actor(request),
            remark=data.validated_data["remark"],
        )
        return Response(self.OrderDeliveryOutputSerializer(order).data)
