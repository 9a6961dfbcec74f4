"""Order API serializers: inputs list their writable fields explicitly; status, amounts
and ownership are never writable from outside."""

from collections.abc import Mapping

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from apps.core.exceptions import ApplicationError
from apps.orders.error_codes import OrderErrorCode
from apps.orders.models import Fulfillment, Order, OrderLine, OrderStatusLog
from apps.orders.services import MAX_LINES, OrderLineInput, RecipientInput

MONEY = {"max_digits": 12, "decimal_places": 2}


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know (400 ``unknown_field``) instead of dropping them: a
    misspelt or retired field (``discount`` for ``discount_amount``) must not pass unnoticed.
    Nested strict serializers check their own part of the body."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(str(name) for name in set(data) - set(self.fields))
            if unknown:
                raise ApplicationError(
                    OrderErrorCode.UNKNOWN_FIELD,
                    _("Unknown field(s): %(fields)s.") % {"fields": ", ".join(unknown)},
                    {"fields": unknown},
                )
        return super().to_internal_value(data)


class RecipientInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=64, label=gettext_lazy("Recipient"))
    phone = serializers.CharField(max_length=32, label=gettext_lazy("Phone"))
    province = serializers.CharField(max_length=32, label=gettext_lazy("Province"))
    city = serializers.CharField(max_length=32, label=gettext_lazy("City"))
    district = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    address = serializers.CharField(max_length=255, label=gettext_lazy("Address"))


class OrderLineInputSerializer(StrictSerializer):
    """``unit_price`` is optional: the OMS prices the line; when given it must be the OMS's
    current price (``price_mismatch`` otherwise), so a stale catalogue is noticed."""

    sku_code = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)
    unit_price = serializers.DecimalField(min_value=0, required=False, **MONEY)
    discount_amount = serializers.DecimalField(min_value=0, default=0, **MONEY)


class OrderLinesInputSerializer(StrictSerializer):
    """Lines by SKU code; the order service resolves the codes with its one SKU read."""

    lines = OrderLineInputSerializer(many=True, min_length=1, max_length=MAX_LINES)

    def to_lines(self) -> list[OrderLineInput]:
        return [
            OrderLineInput(
                sku_id=None,
                sku_code=line["sku_code"],
                quantity=line["quantity"],
                unit_price=line.get("unit_price"),
                discount_amount=line["discount_amount"],
            )
            for line in self.validated_data["lines"]
        ]


class OrderCreateInputSerializer(OrderLinesInputSerializer):
    buyer_id = serializers.CharField(max_length=64)
    recipient = RecipientInputSerializer()
    discount_amount = serializers.DecimalField(min_value=0, default=0, **MONEY)
    buyer_message = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    def to_recipient(self) -> RecipientInput:
        return RecipientInput(**self.validated_data["recipient"])


class OrderLineOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = [
            "id",
            "sku_code",
            "name",
            "quantity",
            "unit_price",
            "discount_amount",
            "line_total",
            "platform_sku_id",
        ]


class FulfillmentOutputSerializer(serializers.ModelSerializer):
    warehouse = serializers.CharField(source="warehouse.code")

    class Meta:
        model = Fulfillment
        fields = ["fulfillment_no", "warehouse", "kind", "status", "carrier", "tracking_no", "shipped_at"]


class RecipientOutputSerializer(serializers.Serializer):
    name = serializers.CharField(source="recipient_name")
    phone = serializers.CharField(source="recipient_phone")
    province = serializers.CharField()
    city = serializers.CharField()
    district = serializers.CharField()
    address = serializers.CharField()


class OrderListItemOutputSerializer(serializers.ModelSerializer):
    shop = serializers.CharField(source="shop.code", allow_null=True, default=None)
    status_display = serializers.CharField(source="get_status_display")
    recipient = RecipientOutputSerializer(source="*")

    class Meta:
        model = Order
        fields = [
            "order_no",
            "shop",
            "platform",
            "platform_order_id",
            "buyer_id",
            "status",
            "status_display",
            "payable_amount",
            "paid_amount",
            "refunded_amount",
            "recipient",
            "created_at",
            "paid_at",
            "payment_deadline",
            "version",
        ]


class OrderDetailOutputSerializer(OrderListItemOutputSerializer):
    lines = OrderLineOutputSerializer(many=True)
    fulfillments = FulfillmentOutputSerializer(source="fulfillment_list", many=True)

    class Meta(OrderListItemOutputSerializer.Meta):
        fields = [
            *OrderListItemOutputSerializer.Meta.fields,
            "total_amount",
            "discount_amount",
            "shipping_fee",
            "payment_method",
            "buyer_message",
            "seller_remark",
            "hold_reasons",
            "cancel_reason",
            "updated_at",
            "shipped_at",
            "delivered_at",
            "completed_at",
            "closed_at",
            "lines",
            "fulfillments",
        ]


class OrderCreatedOutputSerializer(OrderDetailOutputSerializer):
    """A new order as ``order_create`` returned it: lines and packages from what was written."""

    lines = OrderLineOutputSerializer(source="written_lines", many=True)


class OrderStatusLogOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderStatusLog
        fields = ["from_status", "to_status", "operator", "remark", "created_at"]


class OrderCancelInputSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class OrderRemarkInputSerializer(StrictSerializer):
    remark = serializers.CharField(max_length=500, allow_blank=True)


class OrderAddressInputSerializer(StrictSerializer):
    recipient = RecipientInputSerializer()

    def to_recipient(self) -> RecipientInput:
        return RecipientInput(**self.validated_data["recipient"])
