import datetime as dt

from django import forms

from analyticsapp.kpis import WINDOWS, default_as_of
from core.forms import DayField


def _complete_day(value: dt.date | None) -> dt.date | None:
    """Refuses today and later: a day counts once it is over (snapshots of a day
    still in progress would show part of it as if it were all of it)."""
    last = default_as_of()
    if value is not None and value > last:
        raise forms.ValidationError(
            "Pick a day that is over: %(last)s or earlier. Today's figures are "
            "still coming in, so the page shows the default instead.",
            params={"last": f"{last.day} {last:%b %Y}"},
            code="incomplete_day",
        )
    return value


class DashboardForm(forms.Form):
    """A dashboard's as-of day, window and chart range. An invalid field (today,
    a future day) is reported and the page falls back to the defaults."""

    as_of = DayField(label="As of")
    days = forms.TypedChoiceField(
        label="Window",
        choices=[(d, f"{d} days") for d in WINDOWS],
        coerce=int,
        required=False,
        initial=30,  # what resolved() uses when none is chosen
    )
    date_from = DayField(label="Charts from")
    date_to = DayField(label="Charts to")

    def __init__(self, *args, window: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not window:  # the window choice only where a page has one window
            del self.fields["days"]

    def clean_as_of(self):
        return _complete_day(self.cleaned_data.get("as_of"))

    def clean_date_from(self):
        return _complete_day(self.cleaned_data.get("date_from"))

    def clean_date_to(self):
        return _complete_day(self.cleaned_data.get("date_to"))

    def resolved(self) -> dict:
        # Cleans a bound form: its valid fields count, an invalid one falls back to
        # its default (an unbound form has no cleaned_data: every default).
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        as_of = data.get("as_of") or default_as_of()
        days = data.get("days") or 30
        chart_to = data.get("date_to") or as_of
        chart_from = data.get("date_from") or chart_to - dt.timedelta(days=89)
        if chart_from > chart_to:
            chart_from, chart_to = chart_to, chart_from
        if (chart_to - chart_from).days > 731:
            chart_from = chart_to - dt.timedelta(days=731)
        return {"as_of": as_of, "days": days, "from": chart_from, "to": chart_to}


class ExportForm(forms.Form):
    date_from = DayField(label="From")
    date_to = DayField(label="To")

    def clean(self):
        data = super().clean()
        if (
            data.get("date_from")
            and data.get("date_to")
            and data["date_to"] < data["date_from"]
        ):
            raise forms.ValidationError("The range ends before it starts.")
        return data
