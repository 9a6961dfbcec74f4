"""Order documents in each platform's own format, as the simulator serves them.

``build_order`` is also what tests use to make push payloads, so the pull and the push see
exactly the same shapes. Amounts follow the platform: yuan strings for Tmall and JD, fen
integers for Douyin and WeChat.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class SimSku:
    platform_sku_id: str
    outer_id: str
    item_id: str
    title: str
    price: Decimal


@dataclass
class SimLine:
    sku: SimSku
    quantity: int
    discount: Decimal = Decimal("0.00")


@dataclass
class SimRecipient:
    name: str = "张三"
    phone: str = "13800138000"
    province: str = "浙江省"
    city: str = "杭州市"
    district: str = "西湖区"
    address: str = "文三路 90 号 1 幢 501"


# status name used by the simulator -> each platform's code. JD's order search returns
# online-payment orders only once paid, so JD has no "wait_pay"; its WAIT_SELLER_DELIVERY
# (cross-border shops' 等待境内发货) is a paid order, and LOCKED / POP_ORDER_PAUSE lock a paid one.
STATUS = {
    "tmall": {
        "wait_pay": "WAIT_BUYER_PAY",
        "paid": "WAIT_SELLER_SEND_GOODS",
        "shipped": "WAIT_BUYER_CONFIRM_GOODS",
        "cancelled": "TRADE_CLOSED",
    },
    "jd": {
        "paid": "WAIT_SELLER_STOCK_OUT",
        "paid_cross_border": "WAIT_SELLER_DELIVERY",
        "locked": "LOCKED",
        "paused": "POP_ORDER_PAUSE",
        "shipped": "WAIT_GOODS_RECEIVE_CONFIRM",
        "cancelled": "TRADE_CANCELED",
    },
    "douyin": {"wait_pay": 1, "paid": 2, "shipped": 3, "cancelled": 4},
    "wechat": {"wait_pay": 10, "paid": 20, "shipped": 30, "cancelled": 250},
}


def _fmt(value: datetime | None) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _unix(value: datetime | None) -> int:
    return int(value.timestamp()) if value else 0


def _fen(value: Decimal) -> int:
    return int((value * 100).to_integral_value())


def build_order(
    platform: str,
    *,
    order_id: str,
    lines: list[SimLine],
    status: str,
    updated_at: datetime,
    buyer: str = "buyer-1",
    recipient: SimRecipient | None = None,
    shipping_fee: Decimal = Decimal("0.00"),
    order_discount: Decimal = Decimal("0.00"),
    message: str = "",
    refund: dict | None = None,
) -> dict:
    """One order as ``platform`` sends it. ``refund`` = {"id", "sku_index"} marks a refund request."""
    recipient = recipient or SimRecipient()
    paid_at = None if status == "wait_pay" else updated_at
    goods = sum((line.sku.price * line.quantity for line in lines), Decimal("0.00"))
    paid = goods - sum((line.discount for line in lines), Decimal("0.00")) - order_discount + shipping_fee
    if status not in STATUS.get(platform, {}):
        raise ValueError(f"{platform!r} has no order status {status!r}")
    code = STATUS[platform][status]
    refund_index = refund["sku_index"] if refund else None
    if platform == "tmall":
        subs = []
        for index, line in enumerate(lines):
            sub = {
                "oid": f"{order_id}{index + 1:02d}",
                "num_iid": line.sku.item_id,
                "sku_id": line.sku.platform_sku_id,
                "outer_sku_id": line.sku.outer_id,
                "title": line.sku.title,
                "num": line.quantity,
                "price": f"{line.sku.price:.2f}",
                "total_fee": f"{line.sku.price * line.quantity:.2f}",
                "discount_fee": f"{line.discount:.2f}",
                "payment": f"{line.sku.price * line.quantity - line.discount:.2f}",
                "refund_status": "NO_REFUND",
            }
            if index == refund_index:
                sub.update(refund_id=refund["id"], refund_status="WAIT_SELLER_AGREE", refund_reason="不想要了")
            subs.append(sub)
        return {
            "tid": order_id,
            "status": code,
            "buyer_open_uid": buyer,
            "buyer_nick": buyer,
            "receiver_name": recipient.name,
            "receiver_mobile": recipient.phone,
            "receiver_state": recipient.province,
            "receiver_city": recipient.city,
            "receiver_district": recipient.district,
            "receiver_address": recipient.address,
            "total_fee": f"{goods:.2f}",
            "discount_fee": f"{order_discount:.2f}",
            "post_fee": f"{shipping_fee:.2f}",
            "payment": f"{paid:.2f}",
            "pay_time": _fmt(paid_at),
            "modified": _fmt(updated_at),
            "buyer_message": message,
            "orders": {"order": subs},
        }
    if platform == "jd":
        return {
            "orderId": order_id,
            "orderState": code,
            "pin": buyer,
            "orderTotalPrice": f"{goods:.2f}",
            "sellerDiscount": f"{order_discount + sum((line.discount for line in lines), Decimal(0)):.2f}",
            "freightPrice": f"{shipping_fee:.2f}",
            "orderPayment": f"{paid:.2f}",
            "paymentConfirmTime": _fmt(paid_at),
            "modified": _fmt(updated_at),
            "orderRemark": message,
            "consigneeInfo": {
                "fullname": recipient.name,
                "mobile": recipient.phone,
                "province": recipient.province,
                "city": recipient.city,
                "county": recipient.district,
                "fullAddress": f"{recipient.province}{recipient.city}{recipient.district}{recipient.address}",
            },
            "itemInfoList": [
                {
                    "skuId": line.sku.platform_sku_id,
                    "outerSkuId": line.sku.outer_id,
                    "wareId": line.sku.item_id,
                    "skuName": line.sku.title,
                    "itemTotal": str(line.quantity),
                    "jdPrice": f"{line.sku.price:.2f}",
                }
                for line in lines
            ],
        }
    if platform == "douyin":
        skus = []
        for index, line in enumerate(lines):
            sku = {
                "order_id": f"{order_id}{index + 1:02d}",
                "sku_id": line.sku.platform_sku_id,
                "out_sku_id": line.sku.outer_id,
                "product_id": line.sku.item_id,
                "product_name": line.sku.title,
                "item_num": line.quantity,
                "goods_price": _fen(line.sku.price),
                "origin_amount": _fen(line.sku.price * line.quantity),
                "pay_amount": _fen(line.sku.price * line.quantity - line.discount),
                "after_sale_info": {"after_sale_status": 0, "refund_status": 0},
            }
            if index == refund_index:
                sku["after_sale_info"] = {
                    "after_sale_id": refund["id"],
                    "after_sale_status": 6,
                    "after_sale_type": 1,
                    "refund_status": 1,
                }
            skus.append(sku)
        return {
            "order_id": order_id,
            "order_status": code,
            "doudian_open_id": buyer,
            "post_receiver": recipient.name,
            "post_tel": recipient.phone,
            "post_addr": {
                "province": {"name": recipient.province},
                "city": {"name": recipient.city},
                "town": {"name": recipient.district},
                "detail": recipient.address,
            },
            "order_amount": _fen(goods + shipping_fee),
            "promotion_amount": _fen(order_discount),
            "post_amount": _fen(shipping_fee),
            "pay_amount": _fen(paid),
            "pay_time": _unix(paid_at),
            "create_time": _unix(updated_at),
            "update_time": _unix(updated_at),
            "buyer_words": message,
            "sku_order_list": skus,
        }
    if platform == "wechat":
        aftersales = []
        if refund:
            line = lines[refund_index]
            aftersales.append(
                {
                    "aftersale_order_id": refund["id"],
                    "status": "MERCHANT_PROCESSING",
                    "type": "REFUND",
                    "sku_id": line.sku.platform_sku_id,
                    "refund_amount": _fen(line.sku.price * line.quantity - line.discount),
                }
            )
        return {
            "order_id": order_id,
            "status": code,
            "openid": buyer,
            "create_time": _unix(updated_at),
            "update_time": _unix(updated_at),
            "order_detail": {
                "product_infos": [
                    {
                        "product_id": line.sku.item_id,
                        "sku_id": line.sku.platform_sku_id,
                        "out_sku_id": line.sku.outer_id,
                        "title": line.sku.title,
                        "sku_cnt": line.quantity,
                        "sale_price": _fen(line.sku.price),
                        "real_price": _fen(line.sku.price * line.quantity - line.discount),
                    }
                    for line in lines
                ],
                "price_info": {
                    "product_price": _fen(goods),
                    "order_price": _fen(paid),
                    "freight": _fen(shipping_fee),
                    "discounted_price": _fen(order_discount),
                },
                "pay_info": {"pay_time": _unix(paid_at)},
                "delivery_info": {
                    "address_info": {
                        "user_name": recipient.name,
                        "tel_number": recipient.phone,
                        "province_name": recipient.province,
                        "city_name": recipient.city,
                        "county_name": recipient.district,
                        "detail_info": recipient.address,
                    }
                },
                "ext_info": {"customer_notes": message},
            },
            "aftersale_detail": {"aftersale_order_list": aftersales, "on_aftersale_order_cnt": len(aftersales)},
        }
    raise ValueError(f"unknown platform {platform!r}")


def order_updated_at(platform: str, order: dict) -> datetime:
    if platform == "tmall":
        return datetime.strptime(order["modified"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    if platform == "jd":
        return datetime.strptime(order["modified"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    return datetime.fromtimestamp(order["update_time"], tz=SHANGHAI)


def with_updated_at(platform: str, order: dict, updated_at: datetime) -> dict:
    """A copy of ``order`` last updated at ``updated_at`` (the platform stamps every change)."""
    order = dict(order)
    if platform in ("tmall", "jd"):
        order["modified"] = _fmt(updated_at)
    else:
        order["update_time"] = _unix(updated_at)
    return order


def order_id_of(platform: str, order: dict) -> str:
    return str(order.get({"tmall": "tid", "jd": "orderId", "douyin": "order_id", "wechat": "order_id"}[platform], ""))
