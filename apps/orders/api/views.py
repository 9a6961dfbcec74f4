"""Order API: one view per operation; each parses, calls one service or selector, presents.

A signed shop client sees and changes only its own shop's orders (another shop's order is
a 404, as if it did not exist); staff see all. Recipient name, phone and address, the buyer
id and what quotes them (hold reasons, the timeline) are masked unless
``apps.core.personal_data.may_see_personal_data`` says the caller may see them. Edits name the
``version`` they were made on (a body field or ``If-Match``): a stale one is a 412.
"""

import json
import re

from django.conf import settings
from django.utils.translation import gettext as gettext_now
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core import signatures
from apps.core.api.pagination import CursorPagination
from apps.core.api.scoping import operator_name
from apps.core.exceptions import NotFound
from apps.core.idempotency import idempotent
from apps.core.personal_data import (
    mask_address,
    mask_buyer_id,
    mask_name,
    mask_phone,
    may_see_personal_data,
    scrub,
)
from apps.core.replicas import replica_reads
from apps.orders.api.serializers import (
    OrderAddressInputSerializer,
    OrderCancelInputSerializer,
    OrderCreatedOutputSerializer,
    OrderCreateInputSerializer,
    OrderDetailOutputSerializer,
    OrderLinesChangeInputSerializer,
    OrderListItemOutputSerializer,
    OrderListParamsSerializer,
    OrderRemarkInputSerializer,
    OrderStatusLogOutputSerializer,
)
from apps.orders.error_codes import OrderErrorCode
from apps.orders.models import Order
from apps.orders.selectors import (
    order_detail_cached,
    order_for_detail,
    order_get,
    order_history,
    order_list,
    order_not_found,
)
from apps.orders.services import (
    order_cancel,
    order_change_lines,
    order_create,
    order_gate_refuse_sold_out,
    order_update_address,
    order_update_remark,
    orders_restore,
)
from apps.shops.authentication import caller_shop

IF_MATCH = re.compile(r'^\s*(?:W/)?"?(?P<version>[0-9]{1,18})"?\s*$')
ORDER_NOT_FOUND = {404: [OrderErrorCode.ORDER_NOT_FOUND]}
EDIT_ERRORS = {**ORDER_NOT_FOUND, 409: [OrderErrorCode.INVALID_STATUS], 412: [OrderErrorCode.VERSION_CONFLICT]}


class IsStaffOrShop(permissions.BasePermission):
    message = _("Only staff and shop apps may use the order API.")

    def has_permission(self, request, view) -> bool:
        return caller_shop(request) is not None or bool(request.user and request.user.is_staff)


class OrderApi(APIView):
    permission_classes = [permissions.IsAuthenticated, IsStaffOrShop]

    def present(self, data: dict, shop_id: int | None) -> dict:
        if may_see_personal_data(self.request, shop_id=shop_id):
            return data
        recipient = data["recipient"]
        masked = {
            **data,
            "buyer_id": mask_buyer_id(data["buyer_id"]),
            "recipient": {
                **recipient,
                "name": mask_name(recipient["name"]),
                "phone": mask_phone(recipient["phone"]),
                "address": mask_address(recipient["address"]),
            },
        }
        if "hold_reasons" in data:
            quoted = {"name": recipient["name"], "phone": recipient["phone"], "address": recipient["address"]}
            masked["hold_reasons"] = [
                {**reason, "message": scrub(reason.get("message", ""), **quoted)} for reason in data["hold_reasons"]
            ]
        return masked

    def order_for_caller(self, order_no: str) -> Order:
        return order_get(order_no=order_no, shop=caller_shop(self.request))

    def expected_version(self, serializer) -> int | None:
        """The version an edit was made on: the body's ``version``, else ``If-Match``."""
        version = serializer.validated_data.get("version")
        if version is not None:
            return version
        header = self.request.headers.get("If-Match")
        if header is None:
            return None
        match = IF_MATCH.match(header)
        if match is None:
            raise ValidationError({"If-Match": [gettext_now('Send the order\'s version, e.g. "3".')]})
        return int(match["version"])

    def detail_response(self, order_no: str, *, status_code: int = status.HTTP_200_OK) -> Response:
        order = order_for_detail(order_no=order_no)
        return Response(self.present(OrderDetailOutputSerializer(order).data, order.shop_id), status=status_code)


ORDER_NO_PARAMETER = OpenApiParameter(
    "order_no", OpenApiTypes.STR, OpenApiParameter.PATH, description="The order number (20 digits)"
)
IF_MATCH_PARAMETER = OpenApiParameter(
    "If-Match",
    {"type": "string", "pattern": r'^(W/)?"?[0-9]{1,18}"?$'},
    OpenApiParameter.HEADER,
    description="The order's version this edit was made on (instead of the body's version)",
)


class OrderListCreateApi(OrderApi):
    """``GET``: the caller's orders, newest first, cursor-paginated. ``POST``: create one.

    A POST for a flash-sale SKU the gate counts as sold out is refused (409
    ``insufficient_stock``) before authentication, the SKU read and the idempotency claim:
    Redis only, from the body's SKU codes. Only requests that carry credentials (an app key or
    a session) are answered so; the refusal creates nothing, and every accepted request is
    still verified in full.
    """

    def initial(self, request, *args, **kwargs):
        carries_credentials = signatures.HEADER_APP_KEY in request.headers or (
            settings.SESSION_COOKIE_NAME in request.COOKIES
        )
        if request.method == "POST" and carries_credentials:
            # The raw body, not request.data: the signature is checked over the same bytes later.
            try:
                body = json.loads(request.body)
            except (ValueError, RecursionError):
                body = None  # the parser answers bad or too deeply nested JSON itself
            order_gate_refuse_sold_out(body)
        super().initial(request, *args, **kwargs)

    pagination_class = CursorPagination
    error_codes = {
        "post": {
            400: [OrderErrorCode.VALIDATION_ERROR],
            409: ["insufficient_stock", OrderErrorCode.DUPLICATE_PLATFORM_ORDER],
            422: ["sku_inactive"],
        }
    }

    @extend_schema(
        operation_id="orders_list",
        parameters=[OrderListParamsSerializer],
        responses={200: OrderListItemOutputSerializer(many=True)},
    )
    @replica_reads()
    def get(self, request):
        params = OrderListParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        filters = params.validated_data
        queryset = order_list(
            shop=caller_shop(request),
            buyer_id=filters.get("buyer_id", ""),
            statuses=tuple(filters.get("status", ())),
            created_after=filters.get("created_after"),
            created_before=filters.get("created_before"),
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        data = [
            self.present(item, order.shop_id)
            for item, order in zip(OrderListItemOutputSerializer(page, many=True).data, page, strict=True)
        ]
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="orders_create",
        request=OrderCreateInputSerializer,
        responses={201: OrderDetailOutputSerializer},
    )
    @idempotent
    def post(self, request):
        serializer = OrderCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        shop = caller_shop(request)
        order = order_create(
            shop=shop,
            storefront=shop is not None,
            buyer_id=data["buyer_id"],
            lines=serializer.to_lines(),
            recipient=serializer.to_recipient(),
            discount_amount=data["discount_amount"],
            buyer_message=data["buyer_message"],
            actor=operator_name(request),
        )
        return Response(
            self.present(OrderCreatedOutputSerializer(order).data, order.shop_id), status=status.HTTP_201_CREATED
        )


class OrderDetailApi(OrderApi):
    """One order with its lines and packages, served from the cache when it can be."""

    error_codes = {"get": ORDER_NOT_FOUND}

    @extend_schema(
        operation_id="orders_retrieve", parameters=[ORDER_NO_PARAMETER], responses=OrderDetailOutputSerializer
    )
    def get(self, request, order_no: str):
        def render(order):
            return dict(OrderDetailOutputSerializer(order).data)

        try:
            entry = order_detail_cached(order_no=order_no, render=render)
        except NotFound:
            # An archived order comes back to the hot tables when someone asks for it.
            if not orders_restore(order_nos=[order_no], actor=operator_name(request)):
                raise
            entry = order_detail_cached(order_no=order_no, render=render)
        shop = caller_shop(request)
        if shop is not None and entry["shop_id"] != shop.pk:
            raise order_not_found(order_no)
        return Response(self.present(entry["data"], entry["shop_id"]))


class OrderHistoryApi(OrderApi):
    """The order's timeline: every status change and edit, oldest first."""

    error_codes = {"get": ORDER_NOT_FOUND}

    @extend_schema(
        operation_id="orders_history",
        parameters=[ORDER_NO_PARAMETER],
        responses=OrderStatusLogOutputSerializer(many=True),
    )
    def get(self, request, order_no: str):
        order = self.order_for_caller(order_no)
        entries = OrderStatusLogOutputSerializer(order_history(order=order), many=True).data
        if not may_see_personal_data(request, shop_id=order.shop_id):
            quoted = {"name": order.recipient_name, "phone": order.recipient_phone, "address": order.address}
            entries = [{**entry, "remark": scrub(entry["remark"], **quoted)} for entry in entries]
        return Response(entries)


class OrderCancelApi(OrderApi):
    error_codes = {"post": {**ORDER_NOT_FOUND, 409: [OrderErrorCode.INVALID_STATUS, "invalid_transition"]}}

    @extend_schema(
        operation_id="orders_cancel",
        parameters=[ORDER_NO_PARAMETER],
        request=OrderCancelInputSerializer,
        responses=OrderDetailOutputSerializer,
    )
    def post(self, request, order_no: str):
        serializer = OrderCancelInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.order_for_caller(order_no)
        order_cancel(order_no=order_no, reason=serializer.validated_data["reason"], actor=operator_name(request))
        return self.detail_response(order_no)


class OrderAddressUpdateApi(OrderApi):
    error_codes = {"post": {**EDIT_ERRORS, 409: [OrderErrorCode.INVALID_STATUS, OrderErrorCode.SENT_TO_WMS]}}

    @extend_schema(
        operation_id="orders_address_update",
        parameters=[ORDER_NO_PARAMETER, IF_MATCH_PARAMETER],
        request=OrderAddressInputSerializer,
        responses=OrderDetailOutputSerializer,
    )
    def post(self, request, order_no: str):
        serializer = OrderAddressInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.order_for_caller(order_no)
        order_update_address(
            order_no=order_no,
            recipient=serializer.to_recipient(),
            actor=operator_name(request),
            expected_version=self.expected_version(serializer),
        )
        return self.detail_response(order_no)


class OrderRemarkUpdateApi(OrderApi):
    error_codes = {"post": EDIT_ERRORS}

    @extend_schema(
        operation_id="orders_remark_update",
        parameters=[ORDER_NO_PARAMETER, IF_MATCH_PARAMETER],
        request=OrderRemarkInputSerializer,
        responses=OrderDetailOutputSerializer,
    )
    def post(self, request, order_no: str):
        serializer = OrderRemarkInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.order_for_caller(order_no)
        order_update_remark(
            order_no=order_no,
            remark=serializer.validated_data["remark"],
            actor=operator_name(request),
            expected_version=self.expected_version(serializer),
        )
        return self.detail_response(order_no)


class OrderLinesChangeApi(OrderApi):
    """Replace an unpaid order's lines (re-priced, stock re-reserved)."""

    error_codes = {"post": {**EDIT_ERRORS, 409: [OrderErrorCode.INVALID_STATUS, "insufficient_stock"]}}

    @extend_schema(
        operation_id="orders_lines_change",
        parameters=[ORDER_NO_PARAMETER, IF_MATCH_PARAMETER],
        request=OrderLinesChangeInputSerializer,
        responses=OrderDetailOutputSerializer,
    )
    def post(self, request, order_no: str):
        serializer = OrderLinesChangeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.order_for_caller(order_no)
        order_change_lines(
            order_no=order_no,
            lines=serializer.to_lines(),
            actor=operator_name(request),
            expected_version=self.expected_version(serializer),
            storefront=caller_shop(request) is not None,
        )
        return self.detail_response(order_no)
