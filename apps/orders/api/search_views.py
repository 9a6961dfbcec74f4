"""``GET /api/v1/orders/search``: find orders through the search backend.

The backend (database or Elasticsearch) only matches and orders; the orders themselves
are loaded from the database in one query plus a prefetch, in the backend's order. A
signed shop client always searches its own shop (a ``shop_id`` naming another shop is a
404, as another shop's order is); staff search every shop. The filters, the page size and
the page envelope are the order list's, by the same names. Recipient name, phone and address
and the buyer id are masked unless ``apps.core.personal_data.may_see_personal_data`` says the
caller may see them.
"""

from django.utils.translation import gettext as gettext_now
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from apps.core.exceptions import NotFound
from apps.core.personal_data import mask_address, mask_buyer_id, mask_name, mask_phone, may_see_personal_data
from apps.core.replicas import replica_reads
from apps.orders.api.serializers import OrderFilterParamsSerializer, OrderListItemOutputSerializer
from apps.orders.models import Order, OrderLine
from apps.orders.search import OrderQuery, get_backend
from apps.orders.search.base import DEFAULT_SORT, MAX_PAGE_SIZE, SORTS
from apps.orders.search.error_codes import SearchErrorCode
from apps.orders.services.archive import orders_restore
from apps.shops.authentication import caller_shop

SHOP_NOT_FOUND = "shop_not_found"


class StaffOrShop(permissions.BasePermission):
    message = _("Only staff and shop apps may search orders.")

    def has_permission(self, request, view) -> bool:
        return caller_shop(request) is not None or bool(request.user and request.user.is_staff)


class OrderSearchInputSerializer(OrderFilterParamsSerializer):
    """The list's filters (same names) plus the search's own; blank values are refused."""

    q = serializers.CharField(
        required=False,
        max_length=200,
        help_text=_("Order number, platform order id, phone, buyer, SKU code or product words"),
    )
    order_no = serializers.CharField(required=False, max_length=20)
    platform_order_id = serializers.CharField(required=False, max_length=64)
    phone = serializers.CharField(required=False, max_length=32)
    shop_id = serializers.IntegerField(
        required=False, min_value=1, help_text=_("A shop app may name only its own shop (another one is a 404)")
    )
    warehouse_id = serializers.IntegerField(
        required=False, min_value=1, help_text=_("Shipped (or to ship) from this warehouse")
    )
    sku_code = serializers.CharField(required=False, max_length=64)
    product_name = serializers.CharField(required=False, max_length=200, help_text=_("Product name contains"))
    sort = serializers.ChoiceField(choices=SORTS, required=False, default=DEFAULT_SORT)
    cursor = serializers.CharField(required=False, max_length=500, help_text=_("From the previous page's next"))
    page_size = serializers.IntegerField(
        required=False, default=20, min_value=1, help_text=_("1 or more; above 200 serves 200, as lists do")
    )

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
            created_from=data.get("created_after"),
            created_to=data.get("created_before"),
            sort=data["sort"],
            cursor=data.get("cursor", ""),
            size=min(data["page_size"], MAX_PAGE_SIZE),
        )


class OrderSearchLineOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["sku_code", "name", "quantity", "line_total"]


class OrderSearchItemOutputSerializer(OrderListItemOutputSerializer):
    """An order of the list (same fields, same names) with its shipping time and lines."""

    lines = OrderSearchLineOutputSerializer(many=True)

    class Meta(OrderListItemOutputSerializer.Meta):
        fields = [*OrderListItemOutputSerializer.Meta.fields, "shipped_at", "lines"]


class OrderSearchOutputSerializer(serializers.Serializer):
    """The list's cursor envelope (``next``, ``previous``, ``results``) and the match count."""

    next = serializers.URLField(allow_null=True, help_text=_("The next page, or null on the last"))
    previous = serializers.URLField(allow_null=True, help_text=_("Always null: search pages forward only"))
    results = OrderSearchItemOutputSerializer(many=True)
    total = serializers.IntegerField()
    backend = serializers.ChoiceField(choices=["database", "elasticsearch"])


class OrderSearchApi(APIView):
    permission_classes = [permissions.IsAuthenticated, StaffOrShop]
    error_codes = {
        "get": {
            400: [SearchErrorCode.INVALID_CURSOR, SearchErrorCode.INVALID_SORT, SearchErrorCode.INVALID_SIZE],
            404: [SHOP_NOT_FOUND],
            503: [SearchErrorCode.SEARCH_UNAVAILABLE, SearchErrorCode.INDEX_NOT_READY],
        }
    }

    @extend_schema(
        operation_id="orders_search",
        parameters=[OrderSearchInputSerializer],
        responses={200: OrderSearchOutputSerializer},
    )
    @replica_reads()
    def get(self, request):
        params = OrderSearchInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        shop = caller_shop(request)
        asked = params.validated_data.get("shop_id")
        if shop is not None and asked is not None and asked != shop.pk:
            raise NotFound(SHOP_NOT_FOUND, gettext_now("Shop %(shop_id)s does not exist.") % {"shop_id": asked})
        result = get_backend().search(params.to_query(shop_id=shop.pk if shop is not None else None))
        found = self.load(result.order_nos)
        missing = [order_no for order_no in result.order_nos if order_no not in found]
        # Elasticsearch still knows archived orders: they come back when found.
        if missing and orders_restore(order_nos=missing, actor="system:search"):
            found = self.load(result.order_nos)
        orders = [found[order_no] for order_no in result.order_nos if order_no in found]
        items = OrderSearchItemOutputSerializer(orders, many=True).data
        results = [self.present(item, order.shop_id) for item, order in zip(items, orders, strict=True)]
        next_url = None
        if result.next_cursor:
            next_url = replace_query_param(request.build_absolute_uri(), "cursor", result.next_cursor)
        return Response(
            {"next": next_url, "previous": None, "results": results, "total": result.total, "backend": result.backend}
        )

    @staticmethod
    def load(order_nos: list[str]) -> dict[str, Order]:
        orders = Order.objects.filter(order_no__in=order_nos).select_related("shop").prefetch_related("lines")
        return {order.order_no: order for order in orders}

    def present(self, item: dict, shop_id: int | None) -> dict:
        if may_see_personal_data(self.request, shop_id=shop_id):
            return item
        recipient = dict(item["recipient"])
        recipient["name"] = mask_name(recipient["name"])
        recipient["phone"] = mask_phone(recipient["phone"])
        recipient["address"] = mask_address(recipient["address"])
        return {**item, "buyer_id": mask_buyer_id(item["buyer_id"]), "recipient": recipient}
