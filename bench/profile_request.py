"""Where the time of one request goes: a pyinstrument profile of ``--n`` signed requests run
in-process (the Django handler, middleware and view, without gunicorn or the network).

Run after ``bench_http.py``, against the database it left (``oms_bench_http``):

    .venv/bin/python bench/profile_request.py read [--n 2000]    # cached GET /api/v1/orders/{no}
    .venv/bin/python bench/profile_request.py create [--n 300]   # POST /api/v1/orders, 3 lines
    .venv/bin/python bench/profile_request.py healthz [--n 2000] # the floor

Prints the call tree (``--html FILE`` writes it as HTML instead).
"""

import argparse
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpbench

httpbench.configure("oms_bench_http")

from bench_http import RECIPIENT, SECRET  # noqa: E402
from django.test import Client  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

from apps.orders.models import Order  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["read", "create", "healthz"])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--html")
    args = parser.parse_args()
    client = Client(HTTP_HOST="127.0.0.1")
    order_no = Order.objects.order_by("id").values_list("order_no", flat=True).first()

    def one(n: int) -> int:
        if args.what == "healthz":
            return client.get("/healthz").status_code
        if args.what == "read":
            path, body, method = f"/api/v1/orders/{order_no}", b"", "GET"
        else:
            lines = [{"sku_code": f"BENCH-{(n + k) % 50:03d}", "quantity": 1, "unit_price": "59.00"} for k in range(3)]
            path, method = "/api/v1/orders", "POST"
            # A buyer per order: a buyer may hold only a few unpaid orders.
            body = httpbench.json_body(
                {"buyer_id": f"profile-{uuid.uuid4().hex[:12]}", "recipient": RECIPIENT, "lines": lines}
            )
        headers = httpbench.signed_headers("bench-own", SECRET, method, path, body)
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        if method == "POST":
            extra["HTTP_IDEMPOTENCY_KEY"] = uuid.uuid4().hex
        response = client.generic(method, path, body, content_type="application/json", **extra)
        return response.status_code

    for n in range(20):  # warm up: imports, connections, caches
        one(n)
    profiler = Profiler(interval=0.0005)
    with profiler:
        statuses = {one(n) for n in range(args.n)}
    print(f"{args.n} x {args.what}: statuses {sorted(statuses)}")
    if args.html:
        Path(args.html).write_text(profiler.output_html())
    else:
        print(profiler.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    main()
