"""A simulated WMS: accepts fulfillments and, after a delay, ships them and tells the OMS.

Run it beside the OMS: ``python -m apps.orders.wms_sim --port 8002`` and set
``WMS_BASE_URL=http://127.0.0.1:8002``. It speaks the protocol of ``apps.orders.wms``:
``POST /fulfillments`` (idempotent by ``fulfillment_no``), ``POST /fulfillments/{no}/cancel``
and ``GET /fulfillments/{no}``. Requests must be signed with the shared WMS key and secret.
After ``--ship-delay`` seconds it calls the OMS exactly as a real WMS would:
``POST /api/v1/wms/fulfillments/{no}/shipped`` (carrier + tracking number), and after
``--deliver-delay`` more seconds ``POST /api/v1/wms/orders/{order_no}/delivery`` with
``delivering`` and then ``delivered`` (a negative delay: no delivery reports).

It needs no Django settings: it only borrows the signing helpers of ``apps.core.signatures``.
Tests start it in a thread with ``WmsSimulator.start(port=0)`` and call ``drain()`` to wait
for its callbacks.
"""

import argparse
import contextlib
import hmac
import json
import logging
import os
import re
import threading
import time
import uuid
import zlib
from socketserver import ThreadingMixIn
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import requests

from apps.core.signatures import (
    HEADER_APP_KEY,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    request_target,
    sign,
    signed_headers,
)

logger = logging.getLogger("wms_sim")

SUBMIT_PATH = re.compile(r"^/fulfillments/?$")
ITEM_PATH = re.compile(r"^/fulfillments/(?P<no>[A-Za-z0-9-]+)(?P<cancel>/cancel)?/?$")
MAX_SKEW_SECONDS = 300


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """One thread per request, so a slow callback never blocks a new submission."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        logger.debug(format, *args)


class WmsSimulator:
    def __init__(
        self,
        *,
        callback_url: str,
        app_key: str,
        app_secret: str,
        ship_delay: float = 20.0,
        deliver_delay: float = -1.0,
        carrier: str = "SF",
    ):
        self.callback_url = callback_url.rstrip("/")
        self.app_key = app_key
        self.app_secret = app_secret
        self.ship_delay = ship_delay
        self.deliver_delay = deliver_delay
        self.carrier = carrier
        self.fulfillments: dict[str, dict] = {}
        self.callbacks: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._timers: list[threading.Timer] = []
        self._server: WSGIServer | None = None

    # --- HTTP side: what the OMS calls -------------------------------------------------

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        if not self._signature_ok(environ, method, path, body):
            return self._respond(start_response, 401, {"error": "bad signature"})
        if method == "POST" and SUBMIT_PATH.match(path):
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                return self._respond(start_response, 400, {"error": "body is not JSON"})
            return self._respond(start_response, *self.accept(payload))
        match = ITEM_PATH.match(path)
        if match and method == "POST" and match["cancel"]:
            return self._respond(start_response, *self.cancel(match["no"]))
        if match and method == "GET" and not match["cancel"]:
            record = self.fulfillments.get(match["no"])
            if record is None:
                return self._respond(start_response, 404, {"error": "unknown fulfillment"})
            return self._respond(start_response, 200, record)
        return self._respond(start_response, 404, {"error": "no such endpoint"})

    @staticmethod
    def _respond(start_response, status: int, payload: dict):
        reason = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}
        start_response(f"{status} {reason.get(status, 'Conflict')}", [("Content-Type", "application/json")])
        return [json.dumps(payload, ensure_ascii=False).encode()]

    def _signature_ok(self, environ, method: str, path: str, body: bytes) -> bool:
        header = lambda name: environ.get("HTTP_" + name.upper().replace("-", "_"), "")  # noqa: E731
        query = environ.get("QUERY_STRING", "")
        full_path = request_target(path, query)
        try:
            fresh = abs(time.time() - int(header(HEADER_TIMESTAMP))) <= MAX_SKEW_SECONDS
        except ValueError:
            return False
        expected = sign(self.app_secret, method, full_path, header(HEADER_TIMESTAMP), header(HEADER_NONCE), body)
        return (
            fresh and header(HEADER_APP_KEY) == self.app_key and hmac.compare_digest(expected, header(HEADER_SIGNATURE))
        )

    def accept(self, payload: dict) -> tuple[int, dict]:
        number = str(payload.get("fulfillment_no", ""))
        if not number or not payload.get("lines"):
            return 400, {"error": "fulfillment_no and lines are required"}
        with self._lock:
            record = self.fulfillments.get(number)
            if record is not None:
                return 200, record
            record = {
                "fulfillment_no": number,
                "wms_reference": f"WMS-{number}",
                "status": "accepted",
                "order_nos": list(payload.get("order_nos", [])),
                "payload": payload,
                "carrier": "",
                "tracking_no": "",
            }
            self.fulfillments[number] = record
            self._schedule(self.ship_delay, self.ship, number)
        return 201, record

    def cancel(self, number: str) -> tuple[int, dict]:
        with self._lock:
            record = self.fulfillments.get(number)
            if record is None:
                return 404, {"error": "unknown fulfillment"}
            if record["status"] == "shipped":
                return 409, {"error": "already shipped", **record}
            record["status"] = "cancelled"
            return 200, record

    # --- callbacks: what we tell the OMS ------------------------------------------------

    def _schedule(self, delay: float, func, *args) -> None:
        timer = threading.Timer(max(delay, 0), func, args=args)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def ship(self, number: str) -> None:
        with self._lock:
            record = self.fulfillments[number]
            if record["status"] != "accepted":
                return
            record.update(
                status="shipped", carrier=self.carrier, tracking_no=f"{self.carrier}{zlib.crc32(number.encode()):010d}"
            )
        status = self._call(
            f"/api/v1/wms/fulfillments/{number}/shipped",
            {"carrier": record["carrier"], "tracking_no": record["tracking_no"]},
        )
        if status < 300 and self.deliver_delay >= 0:
            self._schedule(self.deliver_delay, self.deliver, record["order_nos"])

    def deliver(self, order_nos: list[str]) -> None:
        for order_no in order_nos:
            for status in ("delivering", "delivered"):
                self._call(f"/api/v1/wms/orders/{order_no}/delivery", {"status": status})

    def _call(self, path: str, payload: dict) -> int:
        url = f"{self.callback_url}{path}"
        body = json.dumps(payload).encode()
        headers = signed_headers(
            self.app_key, self.app_secret, "POST", urlsplit(url).path, body, nonce=uuid.uuid4().hex
        )
        try:
            response = requests.post(
                url, data=body, headers={**headers, "Content-Type": "application/json"}, timeout=10
            )
            status = response.status_code
        except requests.RequestException as exc:
            logger.warning("callback %s failed: %s", path, exc)
            status = 0
        if status >= 300 or status == 0:
            logger.warning("callback %s answered %s", path, status)
        with self._lock:
            self.callbacks.append((path, status))
        return status

    # --- running --------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a background thread; returns the base URL (``port=0`` picks a free port)."""
        self._server = make_server(host, port, self, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://{host}:{self._server.server_port}"

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until every scheduled shipment and delivery callback has run."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [timer for timer in self._timers if timer.is_alive()]
            if not pending or time.monotonic() > deadline:
                return
            pending[0].join(max(deadline - time.monotonic(), 0))

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Simulated WMS for the OMS demo.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--callback-url", default=os.environ.get("OMS_BASE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--ship-delay", type=float, default=20.0, help="seconds from acceptance to shipment")
    parser.add_argument("--deliver-delay", type=float, default=60.0, help="seconds from shipment to delivery")
    parser.add_argument("--carrier", default="SF")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s wms_sim %(levelname)s %(message)s")
    simulator = WmsSimulator(
        callback_url=args.callback_url,
        app_key=os.environ.get("WMS_APP_KEY", "wms-demo"),
        app_secret=os.environ.get("WMS_APP_SECRET", "wms-demo-secret"),
        ship_delay=args.ship_delay,
        deliver_delay=args.deliver_delay,
        carrier=args.carrier,
    )
    server = make_server(
        args.host, args.port, simulator, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    logger.info("simulated WMS on http://%s:%s, reporting to %s", args.host, args.port, args.callback_url)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
