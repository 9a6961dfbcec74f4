"""Personal data in the order admin: the policy is ``apps.core.personal_data``'s; display
methods get no request, so the answer for the current request is kept here."""

from contextlib import contextmanager
from contextvars import ContextVar

from apps.core.personal_data import may_see_personal_data, scrub
from apps.orders.models import Order

# Whether the user of the current request may see phones and addresses: display methods
# get no request, and a ModelAdmin is shared by every thread, so it lives in a ContextVar.
_personal_data_visible: ContextVar[bool] = ContextVar("orders_admin_personal_data", default=False)


def rendered(response):
    """Render a template response now, while the personal-data flag is still set."""
    return response.render() if hasattr(response, "render") else response


@contextmanager
def personal_data_flag(request):
    token = _personal_data_visible.set(may_see_personal_data(request))
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


def scrubbed(text: str, order: Order) -> str:
    """``text`` with the order's phone, address and recipient name masked, for users who may
    not see them: reasons and remarks written before they stopped quoting them still do."""
    if _personal_data_visible.get():
        return text
    return scrub(text, name=order.recipient_name, phone=order.recipient_phone, address=order.address)
