"""Query parameters read through a serializer, strictly.

DRF reads an optional form or query value given empty (``?created_before=``) as if it were
absent, and ignores parameters it does not know (``?buyer=`` for ``buyer_id``), so a
client's mistake would silently widen its filter. Here both are refused (400
``validation_error``): an empty value unless the field allows blanks, and any name that is
neither a field nor one of ``passthrough`` (parameters read elsewhere, e.g. by the paginator).
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers


class ChoiceListField(serializers.ListField):
    """A parameter repeated (``?status=paid&status=shipped``) or comma-separated; never empty."""

    def __init__(self, *, choices, **kwargs):
        super().__init__(child=serializers.ChoiceField(choices=choices), allow_empty=False, **kwargs)

    def get_value(self, dictionary):
        if not hasattr(dictionary, "getlist") or self.field_name not in dictionary:
            return serializers.empty
        return [part.strip() for value in dictionary.getlist(self.field_name) for part in value.split(",")]


class QueryParamsSerializer(serializers.Serializer):
    blank_message = _("This field may not be blank.")
    unknown_message = _("Unknown parameter.")
    passthrough: tuple[str, ...] = ()

    def to_internal_value(self, data):
        getlist = data.getlist if hasattr(data, "getlist") else lambda name: [data[name]]
        errors = {
            name: [self.unknown_message] for name in data if name not in self.fields and name not in self.passthrough
        }
        errors |= {
            name: [self.blank_message]
            for name, field in self.fields.items()
            if name in data
            and not getattr(field, "allow_blank", False)
            and any(not str(value).strip() for value in getlist(name))
        }
        if errors:
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
