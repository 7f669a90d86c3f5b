"""The forms of the ops stock page."""

from django import forms

from catalog.selectors import STOCK_SHOWS
from catalog.services.products import THRESHOLD_MAX


class StockFilterForm(forms.Form):
    """Search and filter; each invalid value falls back alone (valid_fields)."""

    q = forms.CharField(label="SKU or product", required=False, max_length=100)
    show = forms.ChoiceField(
        label="Only",
        required=False,
        choices=[
            ("", "All stock"),
            *((k, label) for k, (label, _) in STOCK_SHOWS.items()),
        ],
    )


class ThresholdForm(forms.Form):
    threshold = forms.IntegerField(
        label="Low-stock threshold", min_value=0, max_value=THRESHOLD_MAX
    )
