"""Admin forms for stock operations. Each carries a hidden reference made when the form is
shown, so submitting the same form twice changes stock once (the services dedup by it)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from apps.core.numbers import next_number
from apps.inventory.models import Sku, Warehouse


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


class SkuReceiveForm(StockReceiveForm):
    """Goods receipt of the selected SKUs into one warehouse, where they may have no stock yet."""

    warehouse = forms.ModelChoiceField(
        label=_("warehouse"),
        queryset=Warehouse.objects.filter(is_active=True).order_by("priority", "code"),
        error_messages={"invalid_choice": _("Choose an active warehouse.")},
    )
    field_order = ["warehouse", "quantity", "note"]


class StockReceiveNewForm(SkuReceiveForm):
    """Goods receipt of any SKU into any active warehouse: the first stock of either."""

    sku = forms.ModelChoiceField(
        label=_("SKU code"),
        queryset=Sku.objects.all(),
        to_field_name="code",
        widget=forms.TextInput,
        error_messages={"invalid_choice": _("No SKU has this code.")},
    )
    field_order = ["sku", "warehouse", "quantity", "note"]


class StockTransferForm(_ReferencedForm):
    to_warehouse = forms.ModelChoiceField(label=_("to warehouse"), queryset=Warehouse.objects.filter(is_active=True))
    quantity = forms.IntegerField(label=_("quantity"), min_value=1)
