import datetime as dt

from django import forms

from analyticsapp.kpis import (
    COMPARE_PREVIOUS,
    COMPARISONS,
    MAX_RANGE_DAYS,
    WINDOWS,
    Window,
    default_as_of,
)
from core.forms import DayField, valid_fields


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


# A range the page refuses outright (400 with the message), rather than ignores.
RANGE_REFUSED = "range_refused"


class DashboardForm(forms.Form):
    """A dashboard's range and comparison, as-of day and window.

    `from`/`to` pick a range (`date_from`/`date_to`, the older names, still
    work); without them the page opens on its window of `days` (7, 30, 90)
    ending on the as-of day. `compare` is the previous period (the default), the
    same dates a year earlier, or none. A value that cannot be read (not a date,
    an unknown choice, an as-of day not over yet) is reported and falls back to
    its default, one field at a time; a range that cannot be shown (ending on a
    day not over yet, longer than MAX_RANGE_DAYS, ending before it starts) is
    refused: the page answers 400 with the message, on its default range. With
    a range, the page reads as of its last day (cohorts, stock cover)."""

    as_of = DayField(label="As of")
    days = forms.TypedChoiceField(
        label="Window",
        choices=[(d, f"{d} days") for d in WINDOWS],
        coerce=int,
        required=False,
        initial=30,  # what resolved() uses when none is chosen
    )
    compare = forms.ChoiceField(
        label="Compare with", choices=list(COMPARISONS.items()), required=False
    )

    def __init__(self, data=None, *args, window: bool = False, **kwargs):
        super().__init__(_with_older_names(data), *args, **kwargs)
        # "from" is a Python keyword: these two fields cannot be class attributes.
        self.fields["from"] = DayField(label="From")
        self.fields["to"] = DayField(label="To")
        self.order_fields(["as_of", "days", "from", "to", "compare"])
        if not window:  # the window choice only where a page has one window
            del self.fields["days"]

    def clean_as_of(self):
        return _complete_day(self.cleaned_data.get("as_of"))

    def clean_from(self):
        return _range_day(self.cleaned_data.get("from"))

    def clean_to(self):
        return _range_day(self.cleaned_data.get("to"))

    def clean(self):
        data = super().clean()
        start, end = data.get("from"), data.get("to")
        if start is not None and end is not None:
            if start > end:
                raise forms.ValidationError(
                    "The range ends before it starts: pick a From day on or before "
                    "the To day.",
                    code=RANGE_REFUSED,
                )
            if (end - start).days + 1 > MAX_RANGE_DAYS:
                raise forms.ValidationError(
                    "A range covers at most %(max)s days (two years): pick a "
                    "shorter one, or look at it in parts.",
                    params={"max": MAX_RANGE_DAYS},
                    code=RANGE_REFUSED,
                )
        return data

    @property
    def refused(self) -> bool:
        """Whether the range asked for was refused (the page answers 400)."""
        return self.is_bound and any(
            error.code == RANGE_REFUSED
            for errors in self.errors.as_data().values()
            for error in errors
        )

    def resolved(self) -> dict:
        """The page's range, comparison and as-of day. Each valid field counts and
        an invalid one falls back to its default (an unbound form: every
        default); a refused range falls back to the default range.

        `range` is what the cards cover and `comparison` what they are compared
        with (None for none); `custom` says a range was picked, and then the
        charts (`from`..`to`) cover it and overlay the comparison. Without one
        the charts cover the 90 days to the as-of day, as before ranges."""
        data = valid_fields(self)
        refused = self.refused
        as_of = data.get("as_of") or default_as_of()
        days = data.get("days") or 30
        compare = data.get("compare") or COMPARE_PREVIOUS
        start, end = data.get("from"), data.get("to")
        custom = not refused and (start is not None or end is not None)
        if custom:
            end = end or as_of
            start = start or end - dt.timedelta(days=days - 1)
            if start > end or (end - start).days + 1 > MAX_RANGE_DAYS:
                # One end given and the other defaulted past it: the given end
                # with the page's window, rather than a refusal nobody asked for.
                end = min(start + dt.timedelta(days=days - 1), default_as_of())
            window = Window(start, end)
            as_of, chart_from, chart_to = end, start, end
        else:
            window = Window.ending(as_of, days)
            chart_to = as_of
            chart_from = chart_to - dt.timedelta(days=89)
        return {
            "as_of": as_of,
            "days": days,
            "from": chart_from,
            "to": chart_to,
            "range": window,
            "compare": compare,
            "comparison": window.compared(compare),
            "custom": custom,
        }


def _with_older_names(data):
    """The query with `date_from`/`date_to` (the older names) as `from`/`to`
    when those are not given, so links made before ranges still work."""
    if data is None or not any(k in data for k in ("date_from", "date_to")):
        return data
    data = data.copy()
    for older, name in (("date_from", "from"), ("date_to", "to")):
        if older in data and name not in data:
            data[name] = data[older]
    return data


def _range_day(value: dt.date | None) -> dt.date | None:
    """Refuses a range day that is not over yet (today or later)."""
    last = default_as_of()
    if value is not None and value > last:
        raise forms.ValidationError(
            "A range ends on a day that is over: %(last)s or earlier. Today's "
            "figures are still coming in.",
            params={"last": f"{last.day} {last:%b %Y}"},
            code=RANGE_REFUSED,
        )
    return value


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
