"""Key material for the sandbox: both sides' RSA pairs in one folder (never for production)."""

import shutil
from pathlib import Path

from apps.payments.providers.crypto import generate_key_pair
from apps.payments.sandbox.gateway import SandboxConfig

KEY_PAIRS = ("wechat_merchant", "wechat_platform", "alipay_app", "alipay")


def ensure_sandbox_keys(directory: Path, *, platform_serial: str = SandboxConfig.wechat_platform_serial) -> Path:
    """Generate any missing pair and publish the platform key as ``wechat_platform_certs/<serial>.pem``."""
    for name in KEY_PAIRS:
        generate_key_pair(directory, name)
    certs = directory / "wechat_platform_certs"
    certs.mkdir(exist_ok=True)
    shutil.copyfile(directory / "wechat_platform_public.pem", certs / f"{platform_serial}.pem")
    return directory
