from rest_framework import serializers


class WarehouseStockOutputSerializer(serializers.Serializer):
    code = serializers.CharField(source="warehouse.code")
    name = serializers.CharField(source="warehouse.name")
    kind = serializers.CharField(source="warehouse.kind")
    on_hand = serializers.IntegerField()
    reserved = serializers.IntegerField()
    available = serializers.IntegerField()


class StockTotalOutputSerializer(serializers.Serializer):
    on_hand = serializers.IntegerField()
    reserved = serializers.IntegerField()
    available = serializers.IntegerField()


class SkuStockOutputSerializer(serializers.Serializer):
    sku_code = serializers.CharField()
    name = serializers.CharField()
    warehouses = WarehouseStockOutputSerializer(many=True)
    total = StockTotalOutputSerializer()
