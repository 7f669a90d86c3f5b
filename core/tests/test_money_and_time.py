import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.money import TooPrecise, format_money, parse_major, to_major
from core.timeutils import business_day, day_bounds_utc

UTC = dt.UTC


@pytest.mark.parametrize(
    ("pennies", "currency", "text"),
    [
        (1234, "GBP", "£12.34"),
        (0, "GBP", "£0.00"),
        (-505, "GBP", "-£5.05"),
        (123456789, "USD", "$1,234,567.89"),
        (500, "JPY", "500 JPY"),
        (999, "CHF", "9.99 CHF"),
        (None, "GBP", "—"),
    ],
)
def test_format_money(pennies, currency, text):
    assert format_money(pennies, currency) == text


def test_format_money_defaults_to_the_store_currency(settings):
    settings.STORE_CURRENCY = "EUR"
    assert format_money(250) == "€2.50"


@pytest.mark.parametrize(
    ("text", "pennies"),
    [("12.34", 1234), ("7", 700), (" 1.1 ", 110), ("78.000", 7800), ("1e2", 10000)],
)
def test_parse_major_reads_pennies_exactly(text, pennies):
    assert parse_major(text, "GBP") == pennies


@pytest.mark.parametrize(
    "bad", ["", "abc", "NaN", "Infinity", "1e309", "-1e309", "10000000000.01"]
)
def test_parse_major_rejects_what_is_not_an_amount(bad):
    with pytest.raises(ValueError, match="not an amount"):
        parse_major(bad, "GBP")


@pytest.mark.parametrize(
    ("text", "currency"), [("78.001", "GBP"), ("0.005", "GBP"), ("12.5", "JPY")]
)
def test_parse_major_refuses_more_places_than_the_currency_has(text, currency):
    with pytest.raises(TooPrecise, match="decimal places"):
        parse_major(text, currency)


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_pennies_survive_a_round_trip_through_display(pennies):
    assert parse_major(str(to_major(pennies, "GBP")), "GBP") == pennies
    assert to_major(pennies, "GBP") == Decimal(pennies) / 100


def test_a_payment_late_on_30_june_utc_is_1_july_in_london():
    assert business_day(dt.datetime(2026, 6, 30, 23, 30, tzinfo=UTC)) == dt.date(
        2026, 7, 1
    )


def test_a_payment_late_on_30_december_utc_stays_on_that_day_in_london():
    moment = dt.datetime(2026, 12, 30, 23, 30, tzinfo=UTC)
    assert business_day(moment) == dt.date(2026, 12, 30)


def test_business_day_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="aware"):
        business_day(dt.datetime(2026, 1, 1, 12, 0))


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        (dt.date(2026, 3, 29), 23),
        (dt.date(2026, 10, 25), 25),
        (dt.date(2026, 7, 1), 24),
    ],
)
def test_business_day_bounds_follow_daylight_saving(day, hours):
    start, end = day_bounds_utc(day)
    assert (end - start) == dt.timedelta(hours=hours)
    assert business_day(start) == day
    assert business_day(end - dt.timedelta(microseconds=1)) == day
