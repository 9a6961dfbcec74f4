"""Inventory API: a SKU's stock per warehouse and in total, for platforms and storefronts.

Staff see every active warehouse. A signed shop client sees what it can sell: the stock
sourcing could reserve for its orders, i.e. its assigned warehouses (``Shop.warehouses``), or
every one when none is assigned, counting only active warehouses that accept online orders,
and nothing of an inactive SKU.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.inventory.api.serializers import SkuStockOutputSerializer
from apps.inventory.error_codes import InventoryErrorCode
from apps.inventory.selectors import sku_get_by_code, sku_sellable_stock_rows, sku_stock_rows
from apps.shops.authentication import caller_shop


class IsStaffOrShop(permissions.BasePermission):
    message = _("Only staff and shop apps may read stock.")

    def has_permission(self, request, view) -> bool:
        return caller_shop(request) is not None or bool(request.user and request.user.is_staff)


class SkuStockApi(APIView):
    permission_classes = [permissions.IsAuthenticated, IsStaffOrShop]
    error_codes = {"get": {404: [InventoryErrorCode.SKU_NOT_FOUND]}}

    @extend_schema(
        operation_id="sku_stock",
        summary="Stock of a SKU per warehouse and in total",
        responses={200: SkuStockOutputSerializer},
        tags=["inventory"],
    )
    def get(self, request, code: str):
        sku = sku_get_by_code(code)
        shop = caller_shop(request)
        if shop is None:
            rows = sku_stock_rows(sku=sku)
        else:
            warehouse_ids = list(shop.warehouses.values_list("pk", flat=True))
            rows = sku_sellable_stock_rows(sku=sku, warehouse_ids=warehouse_ids or None)
        total = {
            "on_hand": sum(r.on_hand for r in rows),
            "reserved": sum(r.reserved for r in rows),
            "available": sum(r.available for r in rows),
        }
        data = {"sku_code": sku.code, "name": sku.name, "warehouses": rows, "total": total}
        return Response(SkuStockOutputSerializer(data).data)
