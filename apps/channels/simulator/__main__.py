"""Run the platform simulator for the demo: ``python -m apps.channels.simulator --port 8003``.

It serves the four platforms' APIs for the shops whose API URL points at it (read from the
database every minute, with their SKU mappings), makes a new order every few seconds, and
pushes every other Douyin and WeChat order to our push API signed as the shop, so orders
arrive both by pull and by push. Now and then a buyer cancels an unshipped order.
"""

import argparse
import json
import os
import random
import time
import uuid
from decimal import Decimal

import django
import requests

ORDER_STATUSES = ["paid"] * 8 + ["wait_pay"]
RECIPIENTS = [
    ("李娜", "13912345678", "上海市", "上海市", "浦东新区", "张江路 88 号 2 栋 1201"),
    ("王强", "13688889999", "广东省", "深圳市", "南山区", "科技园南区 T3 栋 501"),
    ("赵敏", "15011112222", "北京市", "北京市", "朝阳区", "望京 SOHO T1 1609"),
    ("陈晨", "18655556666", "四川省", "成都市", "武侯区", "天府大道 1700 号 12 楼"),
    ("刘洋", "17733334444", "浙江省", "杭州市", "西湖区", "文三路 90 号 5 幢"),
]
PUSHING = {"douyin", "wechat"}


def load_shops(simulator, base_url: str) -> dict:
    from apps.channels.simulator.platforms import SimSku
    from apps.shops.models import Shop

    shops = {}
    for shop in Shop.objects.filter(is_active=True, api_url__startswith=base_url).prefetch_related("sku_mappings__sku"):
        skus = [
            SimSku(
                platform_sku_id=m.platform_sku_id,
                outer_id=m.outer_id,
                item_id=m.platform_item_id,
                title=m.sku.name,
                price=m.sku.price or Decimal("99.00"),
            )
            for m in shop.sku_mappings.all()
        ]
        if skus:
            simulator.add_shop(
                platform=shop.platform,
                app_key=shop.app_key,
                secret=shop.app_secret,
                access_token=shop.access_token,
                skus=skus,
            )
            shops[shop.app_key] = shop
    return shops


def push(api: str, shop, order: dict) -> None:
    from apps.core import signatures

    path = f"/api/v1/channels/{shop.code}/orders"
    body = json.dumps(order, ensure_ascii=False).encode()
    headers = signatures.signed_headers(shop.app_key, shop.app_secret, "POST", path, body, nonce=uuid.uuid4().hex)
    try:
        requests.post(api + path, data=body, headers={**headers, "Content-Type": "application/json"}, timeout=10)
    except requests.RequestException as exc:
        print(f"push to {api} failed: {exc}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8003)
    parser.add_argument("--api", default=os.environ.get("OMS_BASE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--every", type=float, default=15.0, help="seconds between new orders")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.settings")
    django.setup()
    from django.utils import timezone

    from apps.channels.simulator.platforms import SimLine, SimRecipient, build_order
    from apps.channels.simulator.server import PlatformSimulator, serve

    simulator = PlatformSimulator()
    server, url = serve(simulator, port=args.port)
    print(f"platform simulator on {url}", flush=True)
    base_url = f"http://127.0.0.1:{args.port}"
    shops, loaded_at, counter = {}, 0.0, 0
    recent: list[tuple[str, dict, dict]] = []
    try:
        while True:
            if time.monotonic() - loaded_at > 60:
                shops, loaded_at = load_shops(simulator, base_url), time.monotonic()
            if shops:
                counter += 1
                app_key = random.choice(list(shops))
                shop, sim_shop = shops[app_key], simulator.shops[app_key]
                if recent and random.random() < 0.1:
                    # a buyer cancels an order the shop has not shipped
                    key, kwargs, _order = recent.pop(random.randrange(len(recent)))
                    kwargs.update(status="cancelled", updated_at=timezone.now())
                    simulator.put_order(key, build_order(simulator.shops[key].platform, **kwargs))
                lines = [
                    SimLine(sku, random.randint(1, 2)) for sku in random.sample(sim_shop.skus, k=random.randint(1, 3))
                ]
                kwargs = {
                    "order_id": f"{int(time.time())}{counter:04d}",
                    "lines": lines,
                    # JD's order search only returns orders once they are paid
                    "status": "paid" if sim_shop.platform == "jd" else random.choice(ORDER_STATUSES),
                    "updated_at": timezone.now(),
                    "buyer": f"buyer-{random.randint(1, 500)}",
                    "recipient": SimRecipient(*random.choice(RECIPIENTS)),
                    "shipping_fee": random.choice([Decimal("0.00"), Decimal("8.00")]),
                }
                order = build_order(sim_shop.platform, **kwargs)
                simulator.put_order(app_key, order)
                recent = [*recent[-50:], (app_key, kwargs, order)]
                if sim_shop.platform in PUSHING and counter % 2 == 0:
                    push(args.api, shop, order)
            time.sleep(args.every)
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
