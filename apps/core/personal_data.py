"""Personal data: who may see it, and how it is masked for everyone else.

The one policy every view, admin page, export, search and timeline asks: recipients' names,
phones and addresses, buyer ids and payers' ids are shown whole only to staff holding
``PERSONAL_DATA_PERMISSION`` and to a shop's app for its own shop's orders; everyone else gets
the masked forms below, the same in the admin and the API.
"""

from apps.core.api.authentication import SignedCaller

# Declared on the order model (``orders.Order.Meta.permissions``), where staff grant it.
PERSONAL_DATA_CODENAME = "view_personal_data"
PERSONAL_DATA_PERMISSION = f"orders.{PERSONAL_DATA_CODENAME}"
MASK = "****"


def may_see_personal_data(user_or_request, *, shop_id: int | None = None) -> bool:
    """Whether the caller may see personal data (of an order of shop ``shop_id``).

    A request signed by a shop's app sees its own shop's orders' data and no other's; staff
    (a user, or a request made in a user's session) see it when they hold the permission.
    """
    user = getattr(user_or_request, "user", user_or_request)
    if isinstance(user, SignedCaller):
        return shop_id is not None and user.acts_for_shop(shop_id)
    return bool(user is not None and user.has_perm(PERSONAL_DATA_PERMISSION))


def mask_text(text: str, keep: int = 2) -> str:
    """The first ``keep`` characters, then the mask (an empty text stays empty)."""
    if not text:
        return text
    return f"{text[:keep]}{MASK}"


def mask_phone(phone: str) -> str:
    """138****5678: enough for staff to recognise a buyer, not to call them."""
    if len(phone) <= 7:
        return "*" * len(phone)
    return f"{phone[:3]}{MASK}{phone[-4:]}"


def mask_name(name: str) -> str:
    """The family name (first character) only."""
    return mask_text(name, keep=1)


def mask_address(address: str) -> str:
    """The first characters (at most two, at most half: a short address is not kept whole)."""
    return mask_text(address, keep=min(2, len(address) // 2))


def mask_buyer_id(buyer_id: str) -> str:
    return mask_text(buyer_id, keep=1)


def scrub(text: str, *, name: str, phone: str, address: str) -> str:
    """``text`` with a recipient's name, phone and address masked wherever it quotes them
    (hold reasons, timeline remarks written before they stopped quoting them)."""
    for value, mask in ((address, mask_address), (phone, mask_phone), (name, mask_name)):
        value = (value or "").strip()
        if len(value) >= 2:
            text = text.replace(value, mask(value))
    return text
