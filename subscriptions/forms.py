from django import forms

from catalog.models import Variant


class SubscribeForm(forms.Form):
    variant = forms.ModelChoiceField(
        queryset=Variant.objects.select_related("product")
        .filter(active=True, product__active=True)
        .exclude(product__billing_interval=""),
        error_messages={"invalid_choice": "That is not a subscription you can start."},
    )
