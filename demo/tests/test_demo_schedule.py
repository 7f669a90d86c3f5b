"""The demo's schedule does not lean on the calendar (the slow proof, seeding at a
dozen dates, is test_demo_dates.py)."""

import datetime as dt

import time_machine

from core.timeutils import reporting_tz
from demo.history import later, seed_cutoff
from demo.subscriptions import _clear_of_renewals, _period_lengths

LONDON = reporting_tz()


def test_a_follow_up_keeps_the_wall_clock_across_a_dst_switch():
    before = dt.datetime(2027, 3, 27, 14, 0, tzinfo=LONDON)  # GMT
    after = later(before, dt.timedelta(days=1))  # BST
    assert (after.date(), after.time()) == (dt.date(2027, 3, 28), dt.time(14, 0))


def test_a_follow_up_in_the_night_moves_to_seven_clear_of_the_dst_hour():
    evening = dt.datetime(2027, 10, 30, 22, 15, tzinfo=LONDON)
    when = later(evening, dt.timedelta(hours=3))  # 01:15 on the October switch day
    assert when == dt.datetime(2027, 10, 31, 7, 15, tzinfo=LONDON)


def test_the_cutoff_is_london_midnight_whatever_the_time_of_day():
    for moment, london_day in (
        ("2027-07-01T23:30:00+00:00", dt.date(2027, 7, 2)),  # 00:30 in London
        ("2027-07-01T22:50:00+00:00", dt.date(2027, 7, 1)),  # 23:50 in London
    ):
        with time_machine.travel(dt.datetime.fromisoformat(moment), tick=False):
            today, cutoff = seed_cutoff()
        assert today == london_day
        assert cutoff == dt.datetime.combine(today, dt.time(0), tzinfo=LONDON)


def test_monthly_periods_span_28_to_31_days_a_year_365_or_366():
    assert _period_lengths("month", 1) == (28, 31)
    assert _period_lengths("month", 3) == (89, 92)
    assert _period_lengths("year", 1) == (365, 366)


def test_starts_are_drawn_only_clear_of_any_calendars_renewal():
    unsafe = [n for n in range(1, 100) if not _clear_of_renewals(n, "month", 90)]
    assert unsafe == [*range(27, 33), *range(58, 64), *range(88, 94)]
    assert all(_clear_of_renewals(n, "year", 90) for n in range(1, 100))
    assert not _clear_of_renewals(365, "year", 400)
