"""Order API serializers: inputs list their writable fields explicitly; status, amounts
and ownership are never writable from outside."""

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.dates import is_storable
from apps.core.api.params import ChoiceListField, QueryParamsSerializer
from apps.core.exceptions import ApplicationError
from apps.orders.error_codes import OrderErrorCode
from apps.orders.models import Fulfillment, Order, OrderLine, OrderStatus, OrderStatusLog
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


@extend_schema_field(
    {
        "oneOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
        "description": "ISO 8601 date (a whole Asia/Shanghai day) or date-time",
    }
)
class DayOrDateTimeField(serializers.Field):
    """An ISO date-time, or a bare date (a whole Asia/Shanghai day: its start as a lower
    bound, the next day's start as an upper bound)."""

    default_error_messages = {"invalid": gettext_lazy("Use an ISO 8601 date (2025-03-01) or date-time.")}

    def __init__(self, *, end_of_day: bool = False, **kwargs):
        self.end_of_day = end_of_day
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> datetime:
        value = str(data).strip()
        try:
            day = parse_date(value)
            moment = None if day is not None else parse_datetime(value)
        except ValueError:
            self.fail("invalid")
        if moment is None:
            if day is None:
                self.fail("invalid")
            if self.end_of_day:
                if day == date.max:
                    self.fail("invalid")
                day += timedelta(days=1)
            moment = datetime.combine(day, time.min)
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        if not is_storable(moment):
            self.fail("invalid")
        return moment

    def to_representation(self, value):
        return value.isoformat() if isinstance(value, date) else value


class OrderFilterParamsSerializer(QueryParamsSerializer):
    """The filters the order list and the order search share, by the same names."""

    buyer_id = serializers.CharField(required=False, max_length=64)
    status = ChoiceListField(choices=OrderStatus.choices, required=False)
    created_after = DayOrDateTimeField(required=False, help_text=gettext_lazy("Created at or after (inclusive)"))
    created_before = DayOrDateTimeField(
        required=False,
        end_of_day=True,
        help_text=gettext_lazy("Created before: a date-time (exclusive) or a date (that whole day included)"),
    )


class OrderListParamsSerializer(OrderFilterParamsSerializer):
    passthrough = ("cursor", "page_size")


class VersionedInputSerializer(StrictSerializer):
    """An edit made on what the caller read: the order's ``version`` (or an ``If-Match``
    header) makes it refused with 412 ``version_conflict`` once the order has changed."""

    version = serializers.IntegerField(
        required=False, min_value=0, help_text=gettext_lazy("The order's version this edit was made on")
    )


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


class OrderLinesChangeInputSerializer(VersionedInputSerializer, OrderLinesInputSerializer):
    pass


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


class OrderRemarkInputSerializer(VersionedInputSerializer):
    remark = serializers.CharField(max_length=500, allow_blank=True)


class OrderAddressInputSerializer(VersionedInputSerializer):
    recipient = RecipientInputSerializer()

    def to_recipient(self) -> RecipientInput:
        return RecipientInput(**self.validated_data["recipient"])
