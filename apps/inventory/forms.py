"""Admin forms for stock operations. Each carries a hidden reference made when the form is
shown, so submitting the same form twice changes stock once (the services dedup by it)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.core.numbers import next_number
from apps.inventory.models import Warehouse


class _ReferencedForm(forms.Form):
    reference = forms.CharField(widget=forms.HiddenInput, max_length=40)
    note = forms.CharField(label=_("note"), max_length=200, required=False)

    def __init__(self, *args, prefix_code: str = "ADM", **kwargs):
        kwargs.setdefault("initial", {}).setdefault("reference", f"{prefix_code}-{next_number()}")
        super().__init__(*args, **kwargs)


class StockAdjustForm(_ReferencedForm):
    counted = forms.IntegerField(label=_("counted quantity"), min_value=0, required=False)
    delta = forms.IntegerField(label=_("or change on hand by"), required=False)

    def clean(self):
        data = super().clean()
        if (data.get("counted") is None) == (data.get("delta") is None):
            raise forms.ValidationError(_("Give either the counted quantity or a change, not both."))
        return data


class StockReceiveForm(_ReferencedForm):
    quantity = forms.IntegerField(label=_("quantity received"), min_value=1)


class StockTransferForm(_ReferencedForm):
    to_warehouse = forms.ModelChoiceField(label=_("to warehouse"), queryset=Warehouse.objects.filter(is_active=True))
    quantity = forms.IntegerField(label=_("quantity"), min_value=1)
