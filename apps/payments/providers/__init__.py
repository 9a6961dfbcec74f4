"""Provider strategies by name: ``get_provider("wechat")`` / ``get_provider("alipay")``."""

from apps.payments.providers.base import PaymentProvider
from apps.payments.providers.config import ensure_configured


def get_provider(name: str, *, checked: bool = True) -> PaymentProvider:
    """A strategy configured from the current settings (read per call, so tests can override).

    Raises ``ProviderMisconfigured`` when its settings are missing or wrong (``checked=False``
    skips that, for answering a callback in the provider's own format)."""
    from apps.payments.providers.alipay import AlipayProvider
    from apps.payments.providers.wechat import WechatPayProvider

    providers = {"wechat": WechatPayProvider, "alipay": AlipayProvider}
    if name not in providers:
        raise LookupError(f"unknown payment provider {name!r}")
    if checked:
        ensure_configured(name)
    return providers[name]()
