"""``GET /api/v1/orders/search``: find orders through the search backend.

The backend (database or Elasticsearch) only matches and orders; the orders themselves
are loaded from the database in one query plus a prefetch, in the backend's order. A
signed shop client always searches its own shop (any ``shop_id`` it sends is replaced);
staff search every shop. Recipient name, phone and address and the buyer id are masked
unless ``apps.core.personal_data.may_see_personal_data`` says the caller may see them.
"""

from datetime import date, datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.dates import is_storable
from apps.core.personal_data import mask_address, mask_buyer_id, mask_name, mask_phone, may_see_personal_data
from apps.core.replicas import replica_reads
from apps.orders.models import Order, OrderLine, OrderStatus
from apps.orders.search import OrderQuery, get_backend
from apps.orders.search.base import DEFAULT_SORT, MAX_PAGE_SIZE, SORTS
from apps.orders.services.archive import orders_restore
from apps.shops.authentication import caller_shop


class StaffOrShop(permissions.BasePermission):
    message = _("Only staff and shop apps may search orders.")

    def has_permission(self, request, view) -> bool:
        return caller_shop(request) is not None or bool(request.user and request.user.is_staff)


class DayOrDateTimeField(serializers.Field):
    """An ISO date-time, or a bare date (a whole Asia/Shanghai day: its start as a lower
    bound, the next day's start as an upper bound)."""

    default_error_messages = {"invalid": _("Use an ISO 8601 date (2025-03-01) or date-time.")}

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


class StatusListField(serializers.ListField):
    """``status`` repeated (``?status=paid&status=shipped``) or comma-separated."""

    child = serializers.ChoiceField(choices=OrderStatus.choices)

    def get_value(self, dictionary):
        values = dictionary.getlist(self.field_name) if hasattr(dictionary, "getlist") else []
        if not values:
            return serializers.empty
        return [part.strip() for value in values for part in value.split(",") if part.strip()]


class OrderSearchInputSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    order_no = serializers.CharField(required=False, allow_blank=True, max_length=20)
    platform_order_id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=32)
    buyer_id = serializers.CharField(required=False, allow_blank=True, max_length=64)
    status = StatusListField(required=False)
    shop_id = serializers.IntegerField(required=False, min_value=1)
    warehouse_id = serializers.IntegerField(required=False, min_value=1)
    created_from = DayOrDateTimeField(required=False)
    created_to = DayOrDateTimeField(required=False, end_of_day=True)
    sku_code = serializers.CharField(required=False, allow_blank=True, max_length=64)
    product_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    sort = serializers.ChoiceField(choices=SORTS, required=False, default=DEFAULT_SORT)
    cursor = serializers.CharField(required=False, allow_blank=True, max_length=500)
    size = serializers.IntegerField(required=False, default=20, min_value=1, max_value=MAX_PAGE_SIZE)

    def to_query(self, *, shop_id: int | None) -> OrderQuery:
        data = self.validated_data
        text = {
            name: data.get(name, "").strip()
            for name in ("q", "order_no", "platform_order_id", "phone", "buyer_id", "sku_code", "product_name")
        }
        return OrderQuery(
            **text,
            statuses=tuple(data.get("status", ())),
            shop_id=shop_id if shop_id is not None else data.get("shop_id"),
            warehouse_id=data.get("warehouse_id"),
            created_from=data.get("created_from"),
            created_to=data.get("created_to"),
            sort=data["sort"],
            cursor=data.get("cursor", ""),
            size=data["size"],
        )


class OrderSearchLineOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["sku_code", "name", "quantity", "line_total"]


class OrderSearchItemOutputSerializer(serializers.ModelSerializer):
    shop = serializers.CharField(source="shop.code", allow_null=True, default=None)
    status_display = serializers.CharField(source="get_status_display")
    lines = OrderSearchLineOutputSerializer(many=True)

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
            "recipient_name",
            "recipient_phone",
            "province",
            "city",
            "address",
            "created_at",
            "paid_at",
            "shipped_at",
            "lines",
        ]


class OrderSearchOutputSerializer(serializers.Serializer):
    results = OrderSearchItemOutputSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    total = serializers.IntegerField()
    backend = serializers.CharField()


class OrderSearchApi(APIView):
    permission_classes = [permissions.IsAuthenticated, StaffOrShop]

    @extend_schema(
        operation_id="orders_search",
        parameters=[
            OpenApiParameter(
                "q",
                OpenApiTypes.STR,
                description="Order number, platform order id, phone, buyer, SKU code or product words",
            ),
            OpenApiParameter("order_no", OpenApiTypes.STR),
            OpenApiParameter("platform_order_id", OpenApiTypes.STR),
            OpenApiParameter("phone", OpenApiTypes.STR),
            OpenApiParameter("buyer_id", OpenApiTypes.STR),
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                many=True,
                enum=OrderStatus.values,
                description="Repeatable or comma-separated",
            ),
            OpenApiParameter(
                "shop_id", OpenApiTypes.INT, description="Staff only; a shop app always searches its own shop"
            ),
            OpenApiParameter("warehouse_id", OpenApiTypes.INT, description="Shipped (or to ship) from this warehouse"),
            OpenApiParameter("created_from", OpenApiTypes.STR, description="Date or date-time, inclusive"),
            OpenApiParameter(
                "created_to", OpenApiTypes.STR, description="Date (inclusive day) or date-time (exclusive)"
            ),
            OpenApiParameter("sku_code", OpenApiTypes.STR),
            OpenApiParameter("product_name", OpenApiTypes.STR, description="Product name contains"),
            OpenApiParameter("sort", OpenApiTypes.STR, enum=list(SORTS), default=DEFAULT_SORT),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="next_cursor of the previous page"),
            OpenApiParameter("size", OpenApiTypes.INT, default=20),
        ],
        responses={200: OrderSearchOutputSerializer},
    )
    @replica_reads()
    def get(self, request):
        params = OrderSearchInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        shop = caller_shop(request)
        result = get_backend().search(params.to_query(shop_id=shop.pk if shop is not None else None))
        found = self.load(result.order_nos)
        missing = [order_no for order_no in result.order_nos if order_no not in found]
        # Elasticsearch still knows archived orders: they come back when found.
        if missing and orders_restore(order_nos=missing, actor="system:search"):
            found = self.load(result.order_nos)
        orders = [found[order_no] for order_no in result.order_nos if order_no in found]
        items = OrderSearchItemOutputSerializer(orders, many=True).data
        results = [self.present(item, order.shop_id) for item, order in zip(items, orders, strict=True)]
        return Response(
            {"results": results, "next_cursor": result.next_cursor, "total": result.total, "backend": result.backend}
        )

    @staticmethod
    def load(order_nos: list[str]) -> dict[str, Order]:
        orders = Order.objects.filter(order_no__in=order_nos).select_related("shop").prefetch_related("lines")
        return {order.order_no: order for order in orders}

    def present(self, item: dict, shop_id: int | None) -> dict:
        if may_see_personal_data(self.request, shop_id=shop_id):
            return item
        return {
            **item,
            "buyer_id": mask_buyer_id(item["buyer_id"]),
            "recipient_name": mask_name(item["recipient_name"]),
            "recipient_phone": mask_phone(item["recipient_phone"]),
            "address": mask_address(item["address"]),
        }
