from django import forms

from core.forms import DayField
from orders.models import Order


class CheckoutForm(forms.Form):
    checkout_token = forms.CharField(widget=forms.HiddenInput, max_length=64)
    name = forms.CharField(label="Full name", max_length=150)
    line1 = forms.CharField(label="Address line 1", max_length=200)
    line2 = forms.CharField(label="Address line 2", max_length=200, required=False)
    city = forms.CharField(label="Town or city", max_length=100)
    postcode = forms.CharField(label="Postcode", max_length=20)
    country = forms.ChoiceField(
        label="Country",
        choices=[("GB", "United Kingdom"), ("IE", "Ireland")],
        initial="GB",
    )

    def clean_postcode(self):
        return " ".join(self.cleaned_data["postcode"].upper().split())


class CartLineForm(forms.Form):
    variant = forms.IntegerField(widget=forms.HiddenInput)
    quantity = forms.IntegerField(min_value=0, max_value=20)


class OpsQueueFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *Order.Status.choices]
    )
    q = forms.CharField(label="Order number or email", required=False, max_length=100)
    date_from = DayField(label="From")
    date_to = DayField(label="To")
