"""The small forms behind the order admin's actions."""

from django import forms
from django.utils.translation import gettext_lazy as _


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=255)


class ShipForm(forms.Form):
    carrier = forms.CharField(label=_("Carrier"), max_length=32)
    tracking_no = forms.CharField(label=_("Tracking number"), max_length=64)


class AddressForm(forms.Form):
    name = forms.CharField(label=_("Recipient"), max_length=64)
    phone = forms.CharField(label=_("Phone"), max_length=32)
    province = forms.CharField(label=_("Province"), max_length=32)
    city = forms.CharField(label=_("City"), max_length=32)
    district = forms.CharField(label=_("District"), max_length=32, required=False)
    address = forms.CharField(label=_("Address"), max_length=255)


class RemarkForm(forms.Form):
    remark = forms.CharField(label=_("Seller remark"), max_length=500, required=False, widget=forms.Textarea)


class LineForm(forms.Form):
    sku_code = forms.CharField(label=_("SKU code"), max_length=64)
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1)
    unit_price = forms.DecimalField(label=_("Unit price"), max_digits=12, decimal_places=2, min_value=0)
    discount_amount = forms.DecimalField(
        label=_("Discount"), max_digits=12, decimal_places=2, min_value=0, required=False
    )


LineFormSet = forms.formset_factory(LineForm, extra=2, can_delete=True)
