"""Request signatures of the platforms, shared by the adapters and the simulator."""

import hashlib
import hmac


def top_sign(params: dict[str, str], secret: str, method: str = "md5") -> str:
    """Taobao TOP / JD JOS: sort by key, concatenate key+value, then
    md5: upper(hex(md5(secret + joined + secret))); hmac-sha256: upper(hex(hmac(secret, joined)))."""
    joined = "".join(f"{key}{params[key]}" for key in sorted(params) if key != "sign" and params[key] is not None)
    if method == "hmac-sha256":
        return hmac.new(secret.encode(), joined.encode(), hashlib.sha256).hexdigest().upper()
    return hashlib.md5((secret + joined + secret).encode()).hexdigest().upper()  # noqa: S324 - the platform's scheme


def douyin_sign(*, app_key: str, method: str, param_json: str, timestamp: str, v: str, secret: str) -> str:
    """抖店: hex(HMAC-SHA256(secret, secret + app_key.. method.. param_json.. timestamp.. v.. + secret))."""
    text = f"{secret}app_key{app_key}method{method}param_json{param_json}timestamp{timestamp}v{v}{secret}"
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
