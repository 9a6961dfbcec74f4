"""Who is calling: a staff user (sees every shop) or a shop's app (sees only its own)."""


def caller_shop(request):
    """The Shop a signed request acts as, or None for a staff session."""
    return getattr(request.user, "shop", None)


def operator_name(request) -> str:
    shop = caller_shop(request)
    if shop is not None:
        return f"shop:{shop.code}"
    return getattr(request.user, "username", "") or "anonymous"
