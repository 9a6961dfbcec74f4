"""The API served for real: gunicorn (docker/gunicorn.conf.py) on loopback, on this test
run's database, with a shop whose app signs requests, for tests that talk HTTP to it.

The server sees only committed rows, so the fixture commits what it seeds and flushes the
database when the module ends (as pytest-django does after a transactional test)."""

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection

from clients.oms_client import OmsClient, SignedAuth
from tests.orders.factories import SHOP_SECRET, ShopFactory, SkuFactory, WarehouseFactory, create_order, receive

ROOT = Path(__file__).resolve().parents[2]
WMS_KEY, WMS_SECRET = "contract-wms", "contract-wms-secret"
BUYER = "live-buyer"
# SKU codes a URL must escape: the signature is over the escaped path.
ODD_SKU_CODES = ["(x)", "杯子", "a*b~c"]


@dataclass
class LiveApi:
    url: str
    shop: object
    other_shop: object
    sku: object
    order_no: str
    other_order_no: str
    buyer_order_nos: list[str]  # newest first, of BUYER

    def client(self, shop=None) -> OmsClient:
        shop = shop or self.shop
        return OmsClient(self.url, shop.app_key, SHOP_SECRET, max_retries=0)

    def shop_session(self) -> requests.Session:
        session = requests.Session()
        session.auth = SignedAuth(self.shop.app_key, SHOP_SECRET)
        return session

    def wms_session(self) -> requests.Session:
        session = requests.Session()
        session.auth = SignedAuth(WMS_KEY, WMS_SECRET)
        return session


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url() -> str:
    """DATABASE_URL with the test database's name (pytest-django renamed it in settings)."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{connection.settings_dict['NAME']}"))


def wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log.read_text()}")
        try:
            if requests.get(f"{url}/healthz", timeout=10).status_code == 200:
                return
        except requests.RequestException:
            pass  # not listening yet, or its workers are still loading Django
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not serve within a minute:\n{log.read_text()}")


@pytest.fixture(scope="module")
def live_api(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        warehouse = WarehouseFactory()
        sku = SkuFactory()
        receive(sku, warehouse, 1000)
        shop, other_shop = ShopFactory(), ShopFactory()
        for code in ODD_SKU_CODES:
            receive(SkuFactory(code=code), warehouse, 5)
        order = create_order((sku, 1), shop=shop)
        other_order = create_order((sku, 1), shop=other_shop, buyer_id=BUYER)
        buyer_orders = [create_order((sku, 1), shop=shop, buyer_id=BUYER) for _ in range(3)]
    # Payment gateways on a loopback port that is bound but refuses connections: payment
    # starts meet a provider outage, never someone else's server.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    gateway = f"http://127.0.0.1:{closed.getsockname()[1]}"
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        # tests.settings adds the xdist worker number to REDIS_URL: this one has it already.
        "PYTEST_XDIST_WORKER": "gw0",
        "WMS_APP_KEY": WMS_KEY,
        "WMS_APP_SECRET": WMS_SECRET,
        "WEB_CONCURRENCY": "2",
        "PORT": str(port),
        "WECHATPAY_GATEWAY_URL": gateway,
        "ALIPAY_GATEWAY_URL": f"{gateway}/alipay/gateway.do",
    }
    env["REDIS_URL"] = os.environ["REDIS_URL"]
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and gunicorn config
            [
                sys.executable,
                "-m",
                "gunicorn",
                "oms.wsgi:application",
                "--config",
                "docker/gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
            ],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process, log)
        buyer_order_nos = [order.order_no for order in reversed(buyer_orders)]
        yield LiveApi(url, shop, other_shop, sku, order.order_no, other_order.order_no, buyer_order_nos)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)
        cache.clear()
        closed.close()
