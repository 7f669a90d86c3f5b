from django import forms

from accounts.models import SavedAddress

ADDRESS_FIELDS = ("name", "line1", "line2", "city", "postcode", "country")


class SavedAddressChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return obj.one_line


class CheckoutForm(forms.Form):
    """The delivery address: one of the customer's saved addresses, or a typed one
    (its fields are an order's shipping fields)."""

    checkout_token = forms.CharField(widget=forms.HiddenInput, max_length=64)
    saved_address = SavedAddressChoiceField(
        label="Deliver to",
        queryset=SavedAddress.objects.none(),
        required=False,
        blank=True,
        empty_label="A new address (type it below)",
        widget=forms.RadioSelect,
    )
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
    save_address = forms.BooleanField(
        label="Save this address for next time", required=False, initial=True
    )

    def __init__(self, *args, customer, **kwargs):
        super().__init__(*args, **kwargs)
        saved = self.fields["saved_address"]
        saved.queryset = SavedAddress.objects.filter(user=customer)
        self.has_saved_addresses = saved.queryset.exists()
        if not self.has_saved_addresses:
            del self.fields["saved_address"]
        elif self.is_bound and self.data.get(self.add_prefix("saved_address")):
            # A saved address chosen: what is typed below is not needed.
            for name in ADDRESS_FIELDS:
                self.fields[name].required = False

    def clean_postcode(self):
        return " ".join(self.cleaned_data["postcode"].upper().split())

    def clean(self):
        cleaned = super().clean()
        chosen = cleaned.get("saved_address")
        if chosen is not None:
            for name in ADDRESS_FIELDS:
                self._errors.pop(name, None)  # typed, but not what is used
                cleaned[name] = getattr(chosen, name)
        return cleaned

    def address_fields(self):
        return [self[name] for name in ADDRESS_FIELDS]

    def address_choice(self) -> dict:
        """The choice made (a saved address, or the fields as typed and cleaned),
        as initial values to offer again after a bounce."""
        chosen = self.cleaned_data.get("saved_address")
        if chosen is not None:
            return {"saved_address": chosen.pk}
        return {name: self.cleaned_data[name] for name in ADDRESS_FIELDS}


class CartLineForm(forms.Form):
    variant = forms.IntegerField(widget=forms.HiddenInput)
    quantity = forms.IntegerField(min_value=0, max_value=20)
