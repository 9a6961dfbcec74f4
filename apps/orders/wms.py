"""The WMS adapter: how orders hand fulfillments (出库单) to a warehouse management system.

``WmsAdapter`` is the interface the fulfillment services use; ``HttpWmsAdapter`` talks to a
WMS over HTTP (``WMS_BASE_URL``), signing each request with the HMAC scheme of
``apps.core.signatures`` under ``WMS_APP_KEY`` / ``WMS_APP_SECRET``. The WMS must treat a
repeated submission of the same ``fulfillment_no`` as the same fulfillment (we may send it
twice after a crash) and report shipments back through ``/api/v1/wms/...`` (``api/wms_views``).
``apps.orders.wms_sim`` is a WMS that does exactly that, for the demo and the tests.
"""

import json
import uuid
from dataclasses import asdict, dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

import requests
from django.conf import settings

from apps.core.signatures import signed_headers


class WmsError(Exception):
    """The WMS did not do what we asked."""


class WmsUnavailable(WmsError):
    """Network trouble or a 5xx: transient, worth retrying later."""


class WmsRejected(WmsError):
    """The WMS refused the request (4xx)."""


class WmsAlreadyShipped(WmsRejected):
    """The WMS refused to cancel a parcel that has already left (409 to a cancel): final.

    ``carrier`` and ``tracking_no`` are the shipment's, when the WMS said them.
    """

    def __init__(self, message: str, *, carrier: str = "", tracking_no: str = ""):
        super().__init__(message)
        self.carrier = carrier
        self.tracking_no = tracking_no


@dataclass(frozen=True)
class WmsLine:
    order_no: str
    sku_code: str
    quantity: int


@dataclass(frozen=True)
class WmsFulfillment:
    """What a WMS needs to pick, pack and ship one package."""

    fulfillment_no: str
    warehouse_code: str
    kind: str
    order_nos: list[str]
    recipient: dict[str, str]
    lines: list[WmsLine] = field(default_factory=list)

    def as_json(self) -> dict:
        return asdict(self)


class WmsAdapter(Protocol):
    def submit(self, fulfillment: WmsFulfillment) -> str:
        """Hand over a fulfillment; returns the WMS's own reference. Idempotent by fulfillment_no."""

    def cancel(self, fulfillment_no: str) -> None:
        """Stop a fulfillment that has not shipped; unknown numbers are not an error.

        Raises ``WmsAlreadyShipped`` when the parcel has already left."""


class HttpWmsAdapter:
    """A WMS reached over HTTP: ``POST {base}/fulfillments`` and ``POST {base}/fulfillments/{no}/cancel``
    (404: unknown, fine; 409: already shipped, with the carrier and tracking number in the body)."""

    def __init__(self, *, base_url: str, app_key: str, app_secret: str, timeout: float):
        self.base_url = base_url.rstrip("/")
        self.app_key = app_key
        self.app_secret = app_secret
        self.timeout = timeout

    def _post(self, path: str, payload: dict) -> dict:
        url = f"{self.base_url}{path}"
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = signed_headers(
            self.app_key, self.app_secret, "POST", urlsplit(url).path, body, nonce=uuid.uuid4().hex
        )
        try:
            response = requests.post(
                url, data=body, headers={**headers, "Content-Type": "application/json"}, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise WmsUnavailable(f"WMS unreachable: {exc}") from exc
        if response.status_code >= 500:
            raise WmsUnavailable(f"WMS answered {response.status_code}")
        if response.status_code == 404 and path.endswith("/cancel"):
            return {}
        if response.status_code == 409 and path.endswith("/cancel"):
            raise _already_shipped(response)
        if response.status_code >= 400:
            raise WmsRejected(f"WMS refused ({response.status_code}): {response.text[:200]}")
        try:
            return response.json()
        except ValueError as exc:
            raise WmsUnavailable("WMS answered with a body that is not JSON") from exc

    def submit(self, fulfillment: WmsFulfillment) -> str:
        return str(self._post("/fulfillments", fulfillment.as_json()).get("wms_reference", ""))

    def cancel(self, fulfillment_no: str) -> None:
        self._post(f"/fulfillments/{fulfillment_no}/cancel", {"fulfillment_no": fulfillment_no})


def _already_shipped(response: requests.Response) -> WmsAlreadyShipped:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return WmsAlreadyShipped(
        f"WMS refused the cancel, the parcel has shipped: {response.text[:200]}",
        carrier=str(body.get("carrier") or "")[:32],
        tracking_no=str(body.get("tracking_no") or "")[:64],
    )


def get_wms_adapter() -> WmsAdapter | None:
    """The configured WMS, or None when ``WMS_BASE_URL`` is empty (staff ship from the admin)."""
    if not settings.WMS_BASE_URL:
        return None
    return HttpWmsAdapter(
        base_url=settings.WMS_BASE_URL,
        app_key=settings.WMS_APP_KEY,
        app_secret=settings.WMS_APP_SECRET,
        timeout=settings.WMS_TIMEOUT_SECONDS,
    )
