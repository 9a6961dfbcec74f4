"""After-sales API for storefront apps (signed shop clients) and staff.

A shop client opens and follows after-sales of its own shop's orders only; another shop's
after-sale or order answers 404 as if it did not exist.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.aftersales.api.serializers import (
    AfterSaleCancelInputSerializer,
    AfterSaleCreateInputSerializer,
    AfterSaleListItemOutputSerializer,
    AfterSaleListParamsSerializer,
    AfterSaleOutputSerializer,
    AfterSaleReturnShipmentInputSerializer,
)
from apps.aftersales.error_codes import AfterSaleErrorCode
from apps.aftersales.models import AfterSaleSource
from apps.aftersales.selectors import aftersale_get, aftersale_lines_from_skus, aftersale_list
from apps.aftersales.services.aftersales import (
    AfterSaleLineInput,
    aftersale_cancel,
    aftersale_create,
    aftersale_return_shipment,
)
from apps.core.api.pagination import CursorPagination
from apps.core.api.scoping import operator_name
from apps.core.idempotency import idempotent
from apps.shops.authentication import caller_shop


class IsStaffOrShop(permissions.BasePermission):
    message = _("Only staff and shop apps may use the after-sales API.")

    def has_permission(self, request, view) -> bool:
        return caller_shop(request) is not None or bool(request.user and request.user.is_staff)


class AfterSaleApi(APIView):
    permission_classes = [permissions.IsAuthenticated, IsStaffOrShop]

    def shop_id(self) -> int | None:
        shop = caller_shop(self.request)
        return None if shop is None else shop.pk

    def present(self, aftersale_no: str, *, status_code: int = status.HTTP_200_OK) -> Response:
        aftersale = aftersale_get(aftersale_no=aftersale_no, shop_id=self.shop_id())
        return Response(AfterSaleOutputSerializer(aftersale).data, status=status_code)


class AfterSaleListCreateApi(AfterSaleApi):
    """``GET``: the caller's after-sales, newest first, cursor-paginated. ``POST``: open one."""

    pagination_class = CursorPagination
    error_codes = {
        "post": {
            404: [AfterSaleErrorCode.ORDER_NOT_FOUND],
            409: [AfterSaleErrorCode.INVALID_STATUS, AfterSaleErrorCode.ORDER_NOT_SHIPPED, "insufficient_stock"],
            422: [
                AfterSaleErrorCode.ORDER_NOT_ELIGIBLE,
                AfterSaleErrorCode.INVALID_LINES,
                AfterSaleErrorCode.EXCHANGE_SKU_NOT_FOUND,
                AfterSaleErrorCode.EXCHANGE_SKU_INACTIVE,
                AfterSaleErrorCode.QUANTITY_EXCEEDS_RETURNABLE,
                AfterSaleErrorCode.AMOUNT_EXCEEDS_REFUNDABLE,
                AfterSaleErrorCode.INVALID_AMOUNT,
            ],
        }
    }

    @extend_schema(
        operation_id="aftersale_list",
        parameters=[AfterSaleListParamsSerializer],
        responses={200: AfterSaleListItemOutputSerializer(many=True)},
        summary=_("The caller's after-sales, newest first"),
    )
    def get(self, request):
        params = AfterSaleListParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        queryset = aftersale_list(
            shop_id=self.shop_id(),
            order_no=params.validated_data.get("order_no", ""),
            statuses=tuple(params.validated_data.get("status", ())),
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(AfterSaleListItemOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="aftersale_create",
        request=AfterSaleCreateInputSerializer,
        responses={201: AfterSaleOutputSerializer},
        summary=_("Open an after-sale (refund only, return and refund, exchange, reissue)"),
    )
    @idempotent
    def post(self, request):
        serializer = AfterSaleCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        by_line = [
            AfterSaleLineInput(item["order_line_id"], item["quantity"], item.get("exchange_sku_id"))
            for item in data["lines"]
            if "order_line_id" in item
        ]
        by_sku = [
            (item["sku_id"], item["quantity"], item.get("exchange_sku_id"))
            for item in data["lines"]
            if "sku_id" in item
        ]
        shop_id = self.shop_id()
        if by_sku:
            by_line += aftersale_lines_from_skus(order_no=data["order_no"], items=by_sku, shop_id=shop_id)
        aftersale = aftersale_create(
            order_no=data["order_no"],
            type=data["type"],
            lines=by_line,
            amount=data["amount"],
            reason=data["reason"],
            notes=data["notes"],
            source=AfterSaleSource.STAFF if shop_id is None else AfterSaleSource.BUYER,
            actor=operator_name(request),
            shop_id=shop_id,
        )
        return self.present(aftersale.aftersale_no, status_code=status.HTTP_201_CREATED)


class AfterSaleDetailApi(AfterSaleApi):
    error_codes = {"get": {404: [AfterSaleErrorCode.AFTERSALE_NOT_FOUND]}}

    @extend_schema(
        operation_id="aftersale_get",
        responses={200: AfterSaleOutputSerializer},
        summary=_("An after-sale with its lines and log"),
    )
    def get(self, request, aftersale_no: str):
        return self.present(aftersale_no)


class AfterSaleCancelApi(AfterSaleApi):
    error_codes = {
        "post": {
            404: [AfterSaleErrorCode.AFTERSALE_NOT_FOUND],
            409: [AfterSaleErrorCode.INVALID_STATUS, "invalid_transition"],
            403: [AfterSaleErrorCode.NOT_REQUESTER],
        }
    }

    @extend_schema(
        operation_id="aftersale_cancel",
        request=AfterSaleCancelInputSerializer,
        responses={200: AfterSaleOutputSerializer},
        summary=_("Withdraw an after-sale before it is processed"),
    )
    def post(self, request, aftersale_no: str):
        serializer = AfterSaleCancelInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        aftersale_cancel(
            aftersale_no=aftersale_no,
            actor=operator_name(request),
            reason=serializer.validated_data["reason"],
            shop_id=self.shop_id(),
        )
        return self.present(aftersale_no)


class AfterSaleReturnShipmentApi(AfterSaleApi):
    error_codes = {
        "post": {
            404: [AfterSaleErrorCode.AFTERSALE_NOT_FOUND],
            409: [AfterSaleErrorCode.INVALID_STATUS, AfterSaleErrorCode.RETURN_ALREADY_SENT, "invalid_transition"],
            403: [AfterSaleErrorCode.NOT_REQUESTER],
        }
    }

    @extend_schema(
        operation_id="aftersale_return_shipment",
        request=AfterSaleReturnShipmentInputSerializer,
        responses={200: AfterSaleOutputSerializer},
        summary=_("Record the buyer's return parcel (carrier and tracking number)"),
    )
    def post(self, request, aftersale_no: str):
        serializer = AfterSaleReturnShipmentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        aftersale_return_shipment(
            aftersale_no=aftersale_no,
            carrier=serializer.validated_data["carrier"],
            tracking_no=serializer.validated_data["tracking_no"],
            actor=operator_name(request),
            shop_id=self.shop_id(),
        )
        return self.present(aftersale_no)
