"""Is a provider configured well enough to use? Read from the settings on every call (cheap:
key files are parsed once per path), so the deploy check, ``/readyz``, payment starts and the
beat jobs all apply one rule.

A provider none of whose identifying settings is set (``WECHATPAY_MCHID``, ``ALIPAY_APP_ID``)
is not configured: not used here, not an error of the deployment; starting a payment with it
answers 503 all the same.
"""

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from apps.payments.providers import crypto

APIV3_KEY_BYTES = 32  # AEAD_AES_256_GCM


@dataclass(frozen=True)
class ConfigProblem:
    setting: str
    message: str

    def __str__(self) -> str:
        return f"{self.setting}: {self.message}"


class ProviderMisconfigured(Exception):
    """The provider cannot be used until its settings are fixed; retrying does not help."""

    def __init__(self, provider: str, problems: list[ConfigProblem]):
        super().__init__(f"{provider} is misconfigured: " + "; ".join(map(str, problems)))
        self.provider = provider
        self.problems = problems


def _empty(*names: str) -> list[ConfigProblem]:
    return [ConfigProblem(name, "is empty") for name in names if not getattr(settings, name)]


def _key_file(name: str, *, private: bool) -> list[ConfigProblem]:
    path = getattr(settings, name)
    if not path:
        return [ConfigProblem(name, "is empty")]
    if not Path(path).is_file():
        return [ConfigProblem(name, f"no key file at {path}")]
    try:
        (crypto.load_private_key if private else crypto.load_public_key)(path)
    except (ValueError, TypeError, OSError) as exc:
        kind = "private key" if private else "public key or certificate"
        return [ConfigProblem(name, f"{path} is not a PEM {kind} ({type(exc).__name__})")]
    return []


def _wechat_problems() -> list[ConfigProblem]:
    problems = _empty("WECHATPAY_GATEWAY_URL", "WECHATPAY_APPID", "WECHATPAY_SERIAL_NO")
    problems += _key_file("WECHATPAY_PRIVATE_KEY_PATH", private=True)
    size = len(settings.WECHATPAY_APIV3_KEY.encode())
    if size != APIV3_KEY_BYTES:
        problems.append(ConfigProblem("WECHATPAY_APIV3_KEY", f"must be {APIV3_KEY_BYTES} bytes, is {size}"))
    if settings.WECHATPAY_PLATFORM_PUBLIC_KEY_PATH or settings.WECHATPAY_PLATFORM_PUBLIC_KEY_ID:
        problems += _empty("WECHATPAY_PLATFORM_PUBLIC_KEY_ID")
        problems += _key_file("WECHATPAY_PLATFORM_PUBLIC_KEY_PATH", private=False)
    else:
        folder = settings.WECHATPAY_PLATFORM_CERTS_DIR
        if not folder or not any(Path(folder).glob("*.pem")):
            problems.append(
                ConfigProblem(
                    "WECHATPAY_PLATFORM_CERTS_DIR",
                    "holds no platform certificate (<serial>.pem); or set WECHATPAY_PLATFORM_PUBLIC_KEY_PATH "
                    "and WECHATPAY_PLATFORM_PUBLIC_KEY_ID",
                )
            )
    return problems


def _alipay_problems() -> list[ConfigProblem]:
    problems = _empty("ALIPAY_GATEWAY_URL")
    problems += _key_file("ALIPAY_PRIVATE_KEY_PATH", private=True)
    problems += _key_file("ALIPAY_PUBLIC_KEY_PATH", private=False)
    return problems


_PROVIDERS = {
    "wechat": ("WECHATPAY_MCHID", _wechat_problems),
    "alipay": ("ALIPAY_APP_ID", _alipay_problems),
}


def provider_configured(provider: str) -> bool:
    identity, _problems = _PROVIDERS[provider]
    return bool(getattr(settings, identity))


def provider_problems(provider: str) -> list[ConfigProblem]:
    """What keeps ``provider`` from working; empty when it is usable."""
    identity, problems = _PROVIDERS[provider]
    if not getattr(settings, identity):
        return [ConfigProblem(identity, "is empty: the provider is not configured")]
    return problems()


def provider_status(provider: str) -> str:
    """``ok``, ``misconfigured`` or ``not_configured``."""
    if not provider_configured(provider):
        return "not_configured"
    return "misconfigured" if provider_problems(provider) else "ok"


def provider_names() -> list[str]:
    return list(_PROVIDERS)


def ensure_configured(provider: str) -> None:
    problems = provider_problems(provider)
    if problems:
        raise ProviderMisconfigured(provider, problems)
