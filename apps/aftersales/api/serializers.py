from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from apps.aftersales.models import AfterSale, AfterSaleLine, AfterSaleLog, AfterSaleStatus, AfterSaleType
from apps.core.api.params import ChoiceListField, QueryParamsSerializer


class AfterSaleListParamsSerializer(QueryParamsSerializer):
    passthrough = ("cursor", "page_size")
    order_no = serializers.CharField(required=False, max_length=32)
    status = ChoiceListField(choices=AfterSaleStatus.choices, required=False)


class AfterSaleLineInputSerializer(serializers.Serializer):
    # Read by the OpenAPI schema: each line names exactly one of these.
    one_of_required = (("order_line_id",), ("sku_id",))

    order_line_id = serializers.IntegerField(required=False, min_value=1)
    sku_id = serializers.IntegerField(required=False, min_value=1, help_text=_("Instead of order_line_id."))
    quantity = serializers.IntegerField(min_value=1, max_value=10000)
    exchange_sku_id = serializers.IntegerField(required=False, min_value=1, allow_null=True)

    def validate(self, attrs):
        if ("order_line_id" in attrs) == ("sku_id" in attrs):
            raise serializers.ValidationError(_("Give either order_line_id or sku_id."))
        return attrs


class AfterSaleCreateInputSerializer(serializers.Serializer):
    order_no = serializers.CharField(max_length=32)
    type = serializers.ChoiceField(choices=AfterSaleType.choices)
    lines = AfterSaleLineInputSerializer(many=True, required=False, default=list, max_length=100)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, default=0)
    reason = serializers.CharField(max_length=255)
    notes = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)


class AfterSaleCancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)


class AfterSaleReturnShipmentInputSerializer(serializers.Serializer):
    carrier = serializers.CharField(max_length=32)
    tracking_no = serializers.CharField(max_length=64)


class AfterSaleLineOutputSerializer(serializers.ModelSerializer):
    sku_code = serializers.CharField(source="order_line.sku_code")

    class Meta:
        model = AfterSaleLine
        fields = ["id", "order_line_id", "sku_code", "quantity", "exchange_sku_id", "inspection"]


class AfterSaleLogOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = AfterSaleLog
        fields = ["from_status", "to_status", "operator", "remark", "created_at"]


class AfterSaleListItemOutputSerializer(serializers.ModelSerializer):
    order_no = serializers.CharField(source="order.order_no")

    class Meta:
        model = AfterSale
        fields = [
            "aftersale_no",
            "order_no",
            "type",
            "status",
            "source",
            "requested_amount",
            "approved_amount",
            "refunded_amount",
            "reason",
            "return_tracking_no",
            "fulfillment_no",
            "created_at",
            "completed_at",
        ]


class AfterSaleOutputSerializer(AfterSaleListItemOutputSerializer):
    lines = AfterSaleLineOutputSerializer(many=True)
    log = AfterSaleLogOutputSerializer(source="logs", many=True)

    class Meta(AfterSaleListItemOutputSerializer.Meta):
        fields = [*AfterSaleListItemOutputSerializer.Meta.fields, "reject_reason", "return_carrier", "lines", "log"]
