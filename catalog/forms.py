from django import forms

from catalog.selectors import SORTS


class ProductFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=100)
    category = forms.CharField(required=False, max_length=100)
    sort = forms.ChoiceField(
        required=False,
        choices=[
            ("name", "Name"),
            ("price", "Price: low to high"),
            ("-price", "Price: high to low"),
            ("newest", "Newest"),
        ],
    )

    def clean_sort(self):
        value = self.cleaned_data.get("sort") or "name"
        return value if value in SORTS else "name"


class AddToCartForm(forms.Form):
    variant = forms.IntegerField(widget=forms.HiddenInput)
    quantity = forms.IntegerField(min_value=1, max_value=20, initial=1)


class StockAdjustForm(forms.Form):
    delta = forms.IntegerField(
        label="Change (+ adds, − removes)", min_value=-100000, max_value=100000
    )
    note = forms.CharField(label="Reason", max_length=255)

    def clean_delta(self):
        delta = self.cleaned_data["delta"]
        if delta == 0:
            raise forms.ValidationError("Enter a non-zero change.")
        return delta
