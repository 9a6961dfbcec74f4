"""Inventory API: a SKU's stock per warehouse and in total, for platforms and storefronts.

Staff see every active warehouse; a signed shop client sees only the warehouses assigned to
its shop (``Shop.warehouses``), or every active one when none is assigned.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.scoping import caller_shop
from apps.inventory.api.serializers import SkuStockOutputSerializer
from apps.inventory.selectors import sku_get_by_code, sku_stock_rows


class IsStaffOrShop(permissions.BasePermission):
    message = _("Only staff and shop apps may read stock.")

    def has_permission(self, request, view) -> bool:
        return caller_shop(request) is not None or bool(request.user and request.user.is_staff)


class SkuStockApi(APIView):
    permission_classes = [permissions.IsAuthenticated, IsStaffOrShop]

    @extend_schema(
        operation_id="sku_stock",
        summary="Stock of a SKU per warehouse and in total",
        responses={200: SkuStockOutputSerializer},
        tags=["inventory"],
    )
    def get(self, request, code: str):
        sku = sku_get_by_code(code)
        shop = caller_shop(request)
        warehouse_ids = list(shop.warehouses.values_list("pk", flat=True)) if shop is not None else []
        rows = sku_stock_rows(sku=sku, warehouse_ids=warehouse_ids or None)
        total = {
            "on_hand": sum(r.on_hand for r in rows),
            "reserved": sum(r.reserved for r in rows),
            "available": sum(r.available for r in rows),
        }
        data = {"sku_code": sku.code, "name": sku.name, "warehouses": rows, "total": total}
        return Response(SkuStockOutputSerializer(data).data)
