from django import forms
from django.db.models import Q

from core.forms import DayField
from core.timeutils import day_bounds_utc
from monitoring.checks import REGISTRY
from monitoring.models import DataQualityIssue
from orders.models import Order


class IssueFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[
            ("open", "Open and acknowledged"),
            ("all", "All"),
            *DataQualityIssue.Status.choices,
        ],
    )
    kind = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any kind"),
            ("integrity", "Integrity (fails the gate)"),
            ("attention", "Needs attention (work for ops)"),
        ],
    )
    check = forms.ChoiceField(required=False)
    severity = forms.ChoiceField(
        required=False,
        choices=[("", "Any severity"), *DataQualityIssue.Severity.choices],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["check"].choices = [("", "Any check")] + [(n, n) for n in REGISTRY]


class AuditFilterForm(forms.Form):
    user = forms.CharField(label="User (email)", required=False, max_length=254)
    event_type = forms.CharField(label="Event type", required=False, max_length=64)
    target = forms.CharField(
        label="Object",
        required=False,
        max_length=130,
        help_text='An order number, "orders.order" or "orders.order:42"',
    )
    date_from = DayField(label="From")
    date_to = DayField(label="To")

    @staticmethod
    def _target(text: str) -> tuple[str, str, str]:
        """ "orders.order:42", "orders.order", or an order's number (its rows)."""
        text = text.strip()
        if "." not in text and ":" not in text:
            order = Order.objects.filter(number__iexact=text).first()
            return ("orders.order", ":", str(order.pk) if order else "none")
        return text.partition(":")

    def apply(self, rows):
        data = self.cleaned_data
        if data.get("user"):
            rows = rows.filter(
                Q(actor_label__icontains=data["user"])
                | Q(actor__email__icontains=data["user"])
            )
        if data.get("event_type"):
            rows = rows.filter(event_type__startswith=data["event_type"])
        if data.get("target"):
            target_type, _, target_id = self._target(data["target"])
            rows = rows.filter(target_type=target_type)
            if target_id:
                rows = rows.filter(target_id=target_id)
        if data.get("date_from"):
            rows = rows.filter(created_at__gte=day_bounds_utc(data["date_from"])[0])
        if data.get("date_to"):
            rows = rows.filter(created_at__lt=day_bounds_utc(data["date_to"])[1])
        return rows
