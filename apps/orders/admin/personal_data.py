"""Personal data in the order admin: who may see it, and masking for everyone else."""

from contextlib import contextmanager
from contextvars import ContextVar

from apps.orders.models import Order
from apps.orders.selectors import mask_phone, mask_text

PERSONAL_DATA_PERMISSION = "orders.view_personal_data"
# Whether the user of the current request may see phones and addresses: display methods
# get no request, and a ModelAdmin is shared by every thread, so it lives in a ContextVar.
_personal_data_visible: ContextVar[bool] = ContextVar("orders_admin_personal_data", default=False)


def sees_personal_data(request) -> bool:
    return request.user.has_perm(PERSONAL_DATA_PERMISSION)


def rendered(response):
    """Render a template response now, while the personal-data flag is still set."""
    return response.render() if hasattr(response, "render") else response


@contextmanager
def personal_data_flag(request):
    token = _personal_data_visible.set(sees_personal_data(request))
    try:
        yield
    finally:
        _personal_data_visible.reset(token)


class PersonalDataAdminMixin:
    """Sets the personal-data flag for the display methods while the list or the form renders."""

    def changelist_view(self, request, extra_context=None):
        with personal_data_flag(request):
            return rendered(super().changelist_view(request, extra_context))

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        with personal_data_flag(request):
            return rendered(super().changeform_view(request, object_id, form_url, extra_context))


def masked_address(address: str) -> str:
    """The first characters (at most four, at most half: a short address is not kept whole)."""
    return mask_text(address, keep=min(4, len(address) // 2))


def scrubbed(text: str, order: Order) -> str:
    """``text`` with the order's phone, address and recipient name masked, for users who may
    not see them: reasons and remarks written before they stopped quoting them still do."""
    if _personal_data_visible.get():
        return text
    address, phone, name = order.address.strip(), order.recipient_phone.strip(), order.recipient_name.strip()
    for value, masked in (
        (address, masked_address(address)),
        (phone, mask_phone(phone)),
        (name, mask_text(name, keep=1)),
    ):
        if len(value) >= 2:
            text = text.replace(value, masked)
    return text
