"""China's provinces and the seven regions sourcing ranks warehouses by.

Platforms write provinces in several ways ("浙江", "浙江省", "广西壮族自治区", "北京市"):
``province_key`` reduces each to its short name so they compare equal.
"""

NORTH = "华北"
NORTHEAST = "东北"
EAST = "华东"
CENTRAL = "华中"
SOUTH = "华南"
SOUTHWEST = "西南"
NORTHWEST = "西北"

REGIONS = (NORTH, NORTHEAST, EAST, CENTRAL, SOUTH, SOUTHWEST, NORTHWEST)

PROVINCE_REGIONS = {
    "北京": NORTH,
    "天津": NORTH,
    "河北": NORTH,
    "山西": NORTH,
    "内蒙古": NORTH,
    "辽宁": NORTHEAST,
    "吉林": NORTHEAST,
    "黑龙江": NORTHEAST,
    "上海": EAST,
    "江苏": EAST,
    "浙江": EAST,
    "安徽": EAST,
    "福建": EAST,
    "江西": EAST,
    "山东": EAST,
    "台湾": EAST,
    "河南": CENTRAL,
    "湖北": CENTRAL,
    "湖南": CENTRAL,
    "广东": SOUTH,
    "广西": SOUTH,
    "海南": SOUTH,
    "香港": SOUTH,
    "澳门": SOUTH,
    "重庆": SOUTHWEST,
    "四川": SOUTHWEST,
    "贵州": SOUTHWEST,
    "云南": SOUTHWEST,
    "西藏": SOUTHWEST,
    "陕西": NORTHWEST,
    "甘肃": NORTHWEST,
    "青海": NORTHWEST,
    "宁夏": NORTHWEST,
    "新疆": NORTHWEST,
}

# Longest first, so "壮族自治区" is stripped before "自治区".
_SUFFIXES = (
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "特别行政区",
    "自治区",
    "省",
    "市",
)


def province_key(province: str) -> str:
    """The short name of a province as platforms write it ("广西壮族自治区" -> "广西")."""
    name = (province or "").strip()
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return name


def region_for(province: str) -> str:
    """The region of a province, or "" when the name is not a Chinese province."""
    return PROVINCE_REGIONS.get(province_key(province), "")
