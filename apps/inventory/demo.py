"""Demo data: warehouses, stores and a factory across China, ~300 SKUs with stock.

Idempotent: warehouses and SKUs are keyed by code, opening stock is received through
``stock_receive`` under one reference (the service skips rows already received), so the
ledger agrees from the start. A few SKUs are hot (flash sale) and a few rows run low.
"""

import random
from typing import TextIO

from django.utils.translation import gettext as _

from apps.inventory.gate import gate_sync
from apps.inventory.models import Sku, StockMovement, Warehouse
from apps.inventory.services import stock_low_alerts_scan, stock_receive

OPENING_REFERENCE = "DEMO-OPENING"
OPERATOR = "system:demo"

WAREHOUSES = [
    # code, name, kind, province, city, priority, accepts online orders
    ("SH-DC", "上海华东仓", "warehouse", "上海市", "上海", 10, True),
    ("GZ-DC", "广州华南仓", "warehouse", "广东省", "广州", 20, True),
    ("BJ-DC", "北京华北仓", "warehouse", "北京市", "北京", 20, True),
    ("CD-DC", "成都西南仓", "warehouse", "四川省", "成都", 30, True),
    ("HZ-ST", "杭州西湖门店", "store", "浙江省", "杭州", 60, True),
    ("SZ-ST", "深圳南山门店", "store", "广东省", "深圳", 60, True),
    ("SU-FT", "苏州工厂", "factory", "江苏省", "苏州", 90, False),
]

APPAREL = [("TS", "纯棉圆领T恤", 79), ("HD", "加绒连帽卫衣", 199), ("JN", "直筒牛仔裤", 259), ("DR", "碎花连衣裙", 329)]
COLOURS = [("WH", "白色"), ("BK", "黑色"), ("NV", "藏青"), ("GY", "灰色")]
SIZES = ["S", "M", "L", "XL"]
SHOES = [("RN", "轻量跑步鞋", 459), ("SK", "经典帆布板鞋", 239), ("HK", "户外徒步鞋", 569)]
SHOE_SIZES = ["37", "38", "39", "40", "41", "42", "43", "44"]
COSMETICS = [
    ("LP", "丝绒哑光口红", 189, ["01 正红", "02 豆沙", "03 枫叶", "04 橘调", "05 玫瑰"]),
    ("CR", "保湿修护面霜", 368, ["50ml", "30ml"]),
    ("SE", "烟酰胺精华液", 299, ["30ml", "50ml", "100ml"]),
    ("CU", "控油气垫粉底", 259, ["象牙白", "自然色", "小麦色"]),
]
ELECTRONICS = [
    ("EB", "真无线蓝牙耳机", 499, ["白色", "黑色"]),
    ("PB", "快充移动电源 20000mAh", 159, ["白色", "黑色", "蓝色"]),
    ("SW", "智能运动手表", 899, ["42mm 黑", "46mm 银"]),
    ("SP", "便携蓝牙音箱", 329, ["灰色", "红色"]),
]
HOT_CODES = {"EB-01", "SW-01", "LP-01"}


def _catalogue() -> list[dict]:
    items = []
    for code, name, price in APPAREL:
        for colour_code, colour in COLOURS:
            for size in SIZES:
                items.append(
                    {
                        "code": f"{code}-{colour_code}-{size}",
                        "name": f"{name} {colour} {size}",
                        "spec": {"颜色": colour, "尺码": size},
                        "price": price,
                        "weight": 350,
                    }
                )
    for code, name, price in SHOES:
        for colour_code, colour in COLOURS[:3]:
            for size in SHOE_SIZES:
                items.append(
                    {
                        "code": f"{code}-{colour_code}-{size}",
                        "name": f"{name} {colour} {size}码",
                        "spec": {"颜色": colour, "鞋码": size},
                        "price": price,
                        "weight": 800,
                    }
                )
    for code, name, price, variants in COSMETICS + ELECTRONICS:
        for number, variant in enumerate(variants, start=1):
            items.append(
                {
                    "code": f"{code}-{number:02d}",
                    "name": f"{name} {variant}",
                    "spec": {"规格": variant},
                    "price": price,
                    "weight": 200,
                }
            )
    # Apparel in more colours fills the catalogue to about three hundred SKUs.
    extra = [
        ("PL", "速干POLO衫", 149),
        ("SH", "休闲短裤", 119),
        ("CT", "防风夹克", 399),
        ("KN", "羊毛针织衫", 299),
        ("TR", "休闲西裤", 269),
        ("SC", "纯色牛津纺衬衫", 189),
        ("LG", "高腰瑜伽裤", 159),
        ("YR", "轻薄羽绒服", 599),
        ("BZ", "运动背心", 69),
    ]
    for code, name, price in extra:
        for colour_code, colour in COLOURS:
            for size in SIZES:
                items.append(
                    {
                        "code": f"{code}-{colour_code}-{size}",
                        "name": f"{name} {colour} {size}",
                        "spec": {"颜色": colour, "尺码": size},
                        "price": price,
                        "weight": 300,
                    }
                )
    return items


def seed(stdout: TextIO) -> None:
    warehouses = []
    for code, name, kind, province, city, priority, online in WAREHOUSES:
        warehouse, _created = Warehouse.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "kind": kind,
                "province": province,
                "city": city,
                "region": "",
                "priority": priority,
                "accepts_online_orders": online,
            },
        )
        warehouses.append(warehouse)
    rng = random.Random(20261111)
    opened = set(
        StockMovement.objects.filter(reference=OPENING_REFERENCE).values_list("stock__sku_id", "stock__warehouse_id")
    )
    received = 0
    catalogue = _catalogue()
    for n, item in enumerate(catalogue):
        barcode = f"69{20000000000 + n:011d}"
        sku, _created = Sku.objects.update_or_create(
            code=item["code"],
            defaults={
                "name": item["name"],
                "spec": item["spec"],
                "barcode": barcode,
                "price": item["price"],
                "weight_grams": item["weight"],
                "is_hot": item["code"] in HOT_CODES,
            },
        )
        low = n % 37 == 5
        for warehouse in rng.sample(warehouses, k=rng.randint(2, 4)):
            quantity = rng.randint(5, 40) if low else rng.randint(60, 800)
            if (sku.pk, warehouse.pk) in opened:
                continue
            stock_receive(
                sku_id=sku.pk,
                warehouse_id=warehouse.pk,
                quantity=quantity,
                reference=OPENING_REFERENCE,
                operator=OPERATOR,
                note=_("Opening stock"),
            )
            received += 1
    gate_sync()
    raised, _resolved = stock_low_alerts_scan(actor=OPERATOR)
    stdout.write(
        f"inventory: {len(warehouses)} warehouses, {len(catalogue)} SKUs, "
        f"{received} stock rows received, {raised} low-stock alerts\n"
    )
