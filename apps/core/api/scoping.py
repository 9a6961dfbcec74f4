"""Who is calling: a staff user, or an app behind a signed request (``SignedCaller``).

Which shop a signed request acts as is the shops app's to say (``apps.shops.authentication.
caller_shop``); the kernel only names the caller.
"""

from apps.core.api.authentication import SignedCaller


def operator_name(request) -> str:
    user = getattr(request, "user", None)
    if isinstance(user, SignedCaller):
        return str(user)
    return getattr(user, "username", "") or "anonymous"
