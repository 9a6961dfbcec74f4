"""``POST /api/v1/orders/{order_no}/payments``: start paying an order (owned by the payments team).

It lives in the orders URL space because it reads the order: the order must be pending
payment and belong to the signed shop; the amount is always the order's payable amount.
"""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.scoping import operator_name
from apps.core.exceptions import Conflict, NotFound
from apps.core.idempotency import idempotent
from apps.orders.api.serializers import StrictSerializer
from apps.orders.models import Order, OrderStatus
from apps.payments import services
from apps.payments.error_codes import PaymentErrorCode
from apps.payments.models import Provider
from apps.shops.authentication import caller_shop


class OrderPaymentStartApi(APIView):
    error_codes = {
        "post": {
            404: [PaymentErrorCode.ORDER_NOT_FOUND],
            409: [PaymentErrorCode.ORDER_NOT_PAYABLE, PaymentErrorCode.ORDER_ALREADY_PAID],
            502: [PaymentErrorCode.PROVIDER_REFUSED],
            503: [PaymentErrorCode.PROVIDER_UNAVAILABLE],
        }
    }

    class PaymentStartInputSerializer(StrictSerializer):
        provider = serializers.ChoiceField(choices=Provider.choices, help_text=gettext_lazy("wechat or alipay"))

    class PaymentStartOutputSerializer(serializers.Serializer):
        order_no = serializers.CharField()
        out_trade_no = serializers.CharField()
        provider = serializers.CharField()
        amount = serializers.DecimalField(max_digits=12, decimal_places=2)
        status = serializers.CharField()
        client_params = serializers.DictField(help_text=gettext_lazy("code_url (WeChat) or qr_code (Alipay)"))

    @extend_schema(
        operation_id="orders_payment_start",
        summary="Start a payment for an order",
        request=PaymentStartInputSerializer,
        responses={201: PaymentStartOutputSerializer},
    )
    @idempotent
    def post(self, request, order_no: str):
        data = self.PaymentStartInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        orders = Order.objects.all()
        shop = caller_shop(request)
        if shop is not None:
            orders = orders.filter(shop=shop)
        order = (
            orders.filter(order_no=order_no).only("order_no", "status", "payable_amount", "payment_deadline").first()
        )
        if order is None:
            raise NotFound(
                PaymentErrorCode.ORDER_NOT_FOUND, _("Order %(order_no)s does not exist.") % {"order_no": order_no}
            )
        if order.status != OrderStatus.PENDING_PAYMENT:
            raise Conflict(
                PaymentErrorCode.ORDER_NOT_PAYABLE,
                _("Order %(order_no)s cannot be paid while %(status)s.")
                % {"order_no": order_no, "status": order.get_status_display()},
                {"status": order.status},
            )
        started = services.payment_start(
            order_no=order.order_no,
            amount=order.payable_amount,
            provider=data.validated_data["provider"],
            description=_("Order %(order_no)s") % {"order_no": order.order_no},
            actor=operator_name(request),
            expires_at=order.payment_deadline,
        )
        payment = started.payment
        body = {
            "order_no": payment.order_no,
            "out_trade_no": payment.out_trade_no,
            "provider": payment.provider,
            "amount": payment.amount,
            "status": payment.status,
            "client_params": started.client_params,
        }
        return Response(self.PaymentStartOutputSerializer(body).data, status=status.HTTP_201_CREATED)
