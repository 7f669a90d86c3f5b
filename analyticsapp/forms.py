import datetime as dt

from django import forms

from analyticsapp.kpis import WINDOWS, default_as_of


class DashboardForm(forms.Form):
    as_of = forms.DateField(
        label="As of", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    days = forms.TypedChoiceField(
        label="Window",
        choices=[(d, f"{d} days") for d in WINDOWS],
        coerce=int,
        required=False,
        initial=30,  # what resolved() uses when none is chosen
    )
    date_from = forms.DateField(
        label="Charts from",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = forms.DateField(
        label="Charts to",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def resolved(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
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
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        if (
            data.get("date_from")
            and data.get("date_to")
            and data["date_to"] < data["date_from"]
        ):
            raise forms.ValidationError("The range ends before it starts.")
        return data
