"""The blacklisted phones admin (masked unless the user may see personal data)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from apps.core.personal_data import mask_phone, may_see_personal_data
from apps.orders.admin.personal_data import PersonalDataAdminMixin, _personal_data_visible
from apps.orders.models import BlacklistedPhone


@admin.register(BlacklistedPhone)
class BlacklistedPhoneAdmin(PersonalDataAdminMixin, admin.ModelAdmin):
    """Staff without the personal-data permission add a number and edit reasons; an existing
    number is shown to them masked and read-only (titles use the masked ``__str__``)."""

    list_display = ("phone_display", "reason", "created_at")
    search_fields = ("=phone",)

    def _phone_hidden(self, request, obj) -> bool:
        return obj is not None and not may_see_personal_data(request)

    def get_fields(self, request, obj=None):
        return ("phone_display", "reason") if self._phone_hidden(request, obj) else ("phone", "reason")

    def get_readonly_fields(self, request, obj=None):
        return ("phone_display",) if self._phone_hidden(request, obj) else ()

    @admin.display(description=_("phone"), ordering="phone")
    def phone_display(self, obj: BlacklistedPhone) -> str:
        return obj.phone if _personal_data_visible.get() else mask_phone(obj.phone)
