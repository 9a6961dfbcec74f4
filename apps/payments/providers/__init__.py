"""Provider strategies by name: ``get_provider("wechat")`` / ``get_provider("alipay")``."""

from apps.payments.providers.base import PaymentProvider


def get_provider(name: str) -> PaymentProvider:
    """A strategy configured from the current settings (read per call, so tests can override)."""
    from apps.payments.providers.alipay import AlipayProvider
    from apps.payments.providers.wechat import WechatPayProvider

    providers = {"wechat": WechatPayProvider, "alipay": AlipayProvider}
    try:
        return providers[name]()
    except KeyError:
        raise LookupError(f"unknown payment provider {name!r}") from None
