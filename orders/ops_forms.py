"""The forms of the ops order page and the queue."""

from django import forms

from core.forms import DayField
from orders.models import Order
from orders.ops_selectors import QUEUE_SHOWS, QUEUE_SORTS
from orders.services.notes import NOTE_MAX
from orders.shipping import carrier_choices


class FulfilForm(forms.Form):
    carrier = forms.ChoiceField(label="Carrier", required=False, choices=())
    tracking_reference = forms.RegexField(
        label="Tracking reference",
        required=False,
        max_length=100,
        regex=r"^[A-Za-z0-9][A-Za-z0-9 \-]*$",
        strip=True,
        error_messages={"invalid": "Use letters, digits, spaces and dashes only."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["carrier"].choices = carrier_choices()


class CancelForm(forms.Form):
    note = forms.CharField(label="Reason", required=False, max_length=255)


class NoteForm(forms.Form):
    body = forms.CharField(
        label="Internal note (staff only)",
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class OpsQueueFilterForm(forms.Form):
    """The queue's filters; each invalid value falls back alone (valid_fields)."""

    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *Order.Status.choices]
    )
    show = forms.ChoiceField(
        label="Only", required=False, choices=[("", "All orders"), *QUEUE_SHOWS.items()]
    )
    q = forms.CharField(label="Order number or email", required=False, max_length=100)
    date_from = DayField(label="From")
    date_to = DayField(label="To")
    sort = forms.ChoiceField(
        label="Sort",
        required=False,
        choices=[(key, label) for key, (label, _) in QUEUE_SORTS.items()],
    )
