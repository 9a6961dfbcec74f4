from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.channels.simulator.platforms import SimLine, SimSku, build_order
from apps.channels.simulator.server import PlatformSimulator, serve
from apps.inventory.services import stock_receive
from tests.channels.factories import ShopFactory, SkuFactory, SkuMappingFactory, WarehouseFactory


@pytest.fixture(scope="session")
def _simulator_server():
    simulator = PlatformSimulator()
    server, url = serve(simulator)
    yield simulator, url
    server.shutdown()


@pytest.fixture
def simulator(_simulator_server, settings):
    """The platform simulator on a loopback port, emptied for each test; adapters make one
    attempt per call unless a test asks for retries."""
    simulator, url = _simulator_server
    simulator.shops.clear()
    simulator.tokens.clear()
    simulator.calls.clear()
    simulator.requests.clear()
    simulator.reset_faults()
    simulator.url = url
    settings.CHANNEL_HTTP_RETRIES = 0
    settings.CHANNEL_HTTP_RETRY_DELAY_SECONDS = 0
    settings.CHANNEL_HTTP_TIMEOUT_SECONDS = 2
    yield simulator
    simulator.reset_faults()


@dataclass
class PlatformShop:
    shop: object
    secret: str
    skus: list  # our inventory.Sku rows
    sim_skus: list  # the platform's view of them
    mappings: list


@pytest.fixture
def make_shop(simulator):
    """A platform shop pointing at the simulator, with ``n_skus`` mapped SKUs in stock."""

    def make(platform: str = "tmall", *, n_skus: int = 2, stock: int = 100, mapped: bool = True, **fields):
        secret = f"s3cret-{platform}"
        shop = ShopFactory(platform=platform, api_url=simulator.url, secret=secret, **fields)
        warehouse = WarehouseFactory()
        shop.warehouses.add(warehouse)
        skus, sim_skus, mappings = [], [], []
        for index in range(n_skus):
            sku = SkuFactory()
            if stock:
                stock_receive(
                    sku_id=sku.pk,
                    warehouse_id=warehouse.pk,
                    quantity=stock,
                    reference=f"init-{sku.pk}",
                    operator="test",
                )
            sim_sku = SimSku(
                platform_sku_id=f"{shop.pk}{index:04d}",
                outer_id=sku.code,
                item_id=f"9{shop.pk}{index:03d}",
                title=sku.name,
                price=Decimal("59.00") + index * 10,
            )
            if mapped:
                mappings.append(
                    SkuMappingFactory(
                        shop=shop,
                        sku=sku,
                        platform_sku_id=sim_sku.platform_sku_id,
                        outer_id=sku.code,
                        platform_item_id=sim_sku.item_id,
                    )
                )
            skus.append(sku)
            sim_skus.append(sim_sku)
        simulator.add_shop(
            platform=platform, app_key=shop.app_key, secret=secret, access_token=shop.access_token, skus=sim_skus
        )
        return PlatformShop(shop=shop, secret=secret, skus=skus, sim_skus=sim_skus, mappings=mappings)

    return make


def platform_order(ps: PlatformShop, order_id: str, *, status: str = "paid", minutes_ago: int = 1, **kwargs) -> dict:
    """An order of ``ps``'s platform: one of each of its first two SKUs unless ``lines`` given."""
    lines = kwargs.pop("lines", None) or [SimLine(ps.sim_skus[0], 2, Decimal("1.00")), SimLine(ps.sim_skus[1], 1)]
    return build_order(
        ps.shop.platform,
        order_id=order_id,
        lines=lines,
        status=status,
        updated_at=timezone.now().replace(microsecond=0) - timedelta(minutes=minutes_ago),
        shipping_fee=kwargs.pop("shipping_fee", Decimal("8.00")),
        order_discount=kwargs.pop("order_discount", Decimal("5.00")),
        **kwargs,
    )
