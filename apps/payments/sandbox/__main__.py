"""``python -m apps.payments.sandbox --port 8001``: the sandbox WeChat Pay / Alipay gateway.

Keys come from ``--keys-dir`` (default var/payments, written by ``manage.py payments_sandbox_keys``).
"""

import argparse
import logging
import os
from pathlib import Path

from apps.payments.sandbox.gateway import STATE_FILE, SandboxConfig
from apps.payments.sandbox.server import serve_forever


def main() -> None:
    parser = argparse.ArgumentParser(description="Sandbox WeChat Pay v3 / Alipay gateway")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    default_keys = Path(os.environ.get("OMS_VAR_DIR", Path(__file__).resolve().parents[3] / "var")) / "payments"
    parser.add_argument("--keys-dir", type=Path, default=default_keys)
    parser.add_argument(
        "--autopay-seconds",
        type=float,
        default=float(os.environ.get("PAYMENT_SANDBOX_AUTOPAY_SECONDS", "5")),
        help="pay every new trade this many seconds after it is created (0: only when asked)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = SandboxConfig(
        keys_dir=args.keys_dir,
        public_url=f"http://{args.host}:{args.port}",
        autopay_seconds=args.autopay_seconds,
        state_file=args.keys_dir / STATE_FILE,
    )
    logging.getLogger("payments.sandbox").info(
        "sandbox gateway on %s (autopay %ss)", config.public_url, config.autopay_seconds
    )
    serve_forever(config, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
