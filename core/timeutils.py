"""Time conventions: store UTC; a business day is a date in REPORTING_TIMEZONE."""

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def reporting_tz() -> ZoneInfo:
    return ZoneInfo(settings.REPORTING_TIMEZONE)


def business_day(moment: dt.datetime) -> dt.date:
    """The business day (a date in REPORTING_TIMEZONE) of an aware UTC moment."""
    if timezone.is_naive(moment):
        raise ValueError("business_day needs an aware datetime")
    return moment.astimezone(reporting_tz()).date()


def day_bounds_utc(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in UTC of a business day, daylight-saving changes included."""
    tz = reporting_tz()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def today() -> dt.date:
    return business_day(timezone.now())
