"""Form fields every app shares: one rule for which days a date field accepts."""

import datetime as dt

from django import forms

FIRST_DAY = dt.date(2000, 1, 1)
LAST_DAY = dt.date(2100, 12, 31)
OUT_OF_RANGE = "out_of_range"


class DayField(forms.DateField):
    """A day from 1 Jan 2000 to 31 Dec 2100: further out, no date arithmetic of the
    product overflows and no range is absurdly long (a clear error, code
    `out_of_range`, which `bad_input` turns into a 400)."""

    default_error_messages = {
        OUT_OF_RANGE: "Pick a day from 1 Jan 2000 to 31 Dec 2100.",
    }

    def __init__(self, **kwargs):
        attrs = {
            "type": "date",
            "min": FIRST_DAY.isoformat(),
            "max": LAST_DAY.isoformat(),
        }
        kwargs.setdefault("widget", forms.DateInput(attrs=attrs))
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value):
        day = super().to_python(value)
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            raise forms.ValidationError(
                self.error_messages[OUT_OF_RANGE], code=OUT_OF_RANGE
            )
        return day


def bad_input(form: forms.Form) -> bool:
    """Whether a bound form has a day out of range: the page answers 400 (with the
    form's message) rather than 200, so a client sees the request was refused."""
    if not form.is_bound or form.is_valid():
        return False
    return any(
        error.code == OUT_OF_RANGE
        for errors in form.errors.as_data().values()
        for error in errors
    )


def valid_fields(form: forms.Form) -> dict:
    """The cleaned values of a bound form's valid fields: one bad parameter (an
    unknown sort, a bad day) falls back to its default without dropping the
    others. An unbound form has none."""
    if not form.is_bound:
        return {}
    form.is_valid()
    return dict(getattr(form, "cleaned_data", {}))
