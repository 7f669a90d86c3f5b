"""Any range against any comparison: a range's cards are the sums of its days'
snapshots, the comparison is the previous period, the same dates a year earlier
(29 February as 28 February) or none, a bad value is ignored on its own, a range
that cannot be shown is a 400 with its message, and a dashboard's query count does
not grow with the range's length."""

import datetime as dt
import re
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analyticsapp.kpis import COMPARE_NONE, COMPARE_PREVIOUS, COMPARE_YEAR, Window
from analyticsapp.models import DailySnapshot, MrrDailySnapshot
from analyticsapp.tests.test_kpi_coverage import unmapped

pytestmark = pytest.mark.django_db
TODAY = dt.datetime(2026, 7, 15, 12, tzinfo=dt.UTC)  # as-of day at most 14 Jul 2026
DASHBOARDS = ["dashboard", "customers", "products", "subscriptions", "ops"]


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(TODAY, tick=False):
        yield


@pytest.fixture
def analyst_client(client, analyst):
    client.force_login(analyst)
    return client


def _days(start: dt.date, end: dt.date, gross=lambda day: 100, **values):
    """A built snapshot for each day start..end; gross (and net) from `gross`."""
    rows, day = [], start
    while day <= end:
        amount = gross(day)
        rows.append(
            DailySnapshot(
                day=day,
                built_at=timezone.now(),
                gross_revenue_pennies=amount,
                net_revenue_pennies=amount,
                **values,
            )
        )
        day += dt.timedelta(days=1)
    DailySnapshot.objects.bulk_create(rows)


def _text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def _card(response, key):
    [card] = [c for c in response.context["range_cards"] if c["key"] == key]
    return card["kpi"]


def _get(client, page="dashboard", **query):
    return client.get(reverse(f"analyticsapp:{page}"), query)


# -- the range and its cards ------------------------------------------------------


def test_a_custom_range_card_is_the_sum_of_the_days_snapshots_in_it(analyst_client):
    _days(dt.date(2026, 3, 1), dt.date(2026, 3, 31), gross=lambda d: d.day * 100)
    response = _get(analyst_client, **{"from": "2026-03-05", "to": "2026-03-20"})
    assert response.status_code == 200
    gross = _card(response, "gross_revenue_pennies")
    assert gross.current == sum(d * 100 for d in range(5, 21))  # £200.00
    # The previous period of the same length: 17 Feb–4 Mar (1–4 Mar built).
    assert response.context["params"]["comparison"] == Window(
        dt.date(2026, 2, 17), dt.date(2026, 3, 4)
    )
    assert gross.previous == sum(d * 100 for d in range(1, 5))
    text = _text(response)
    assert re.search(
        r"Gross revenue £200\.00 Previous period: £10\.00 Change: \+£190\.00 "
        r"\(\+1900%\)",
        text,
    )
    assert "5 Mar 2026–20 Mar 2026 16 days, against 17 Feb 2026–4 Mar 2026" in text
    assert "Last 7 days" not in text  # the range replaces the three windows


def test_a_range_with_one_end_takes_the_window_up_to_it(analyst_client):
    _days(dt.date(2026, 6, 1), dt.date(2026, 6, 30))
    response = _get(analyst_client, to="2026-06-30", days="7")
    assert response.context["params"]["range"] == Window(
        dt.date(2026, 6, 1), dt.date(2026, 6, 30)
    )  # the executive page has no window choice: 30 days
    response = _get(analyst_client, **{"from": "2026-07-01"})
    assert response.context["params"]["range"] == Window(
        dt.date(2026, 7, 1), dt.date(2026, 7, 14)
    )


def test_the_older_date_from_and_date_to_names_still_pick_the_range(analyst_client):
    response = _get(analyst_client, date_from="2026-05-01", date_to="2026-05-31")
    assert response.context["params"]["range"] == Window(
        dt.date(2026, 5, 1), dt.date(2026, 5, 31)
    )


def test_the_shortcuts_set_from_and_to_and_keep_the_comparison(analyst_client):
    response = _get(analyst_client, **{"from": "2026-05-01", "to": "2026-05-31"})
    body = response.content.decode()
    assert 'href="?from=2026-05-25&amp;to=2026-05-31&amp;compare=previous"' in body
    assert 'href="?from=2026-03-03&amp;to=2026-05-31&amp;compare=previous"' in body
    response = _get(analyst_client, compare="year")
    assert "?from=2026-07-08&amp;to=2026-07-14&amp;compare=year" in (
        response.content.decode()
    )


def test_without_a_range_the_executive_page_keeps_its_three_windows(analyst_client):
    response = _get(analyst_client)
    text = _text(response)
    assert {"Last 7 days", "Last 30 days", "Last 90 days"} <= set(
        re.findall(r"Last \d+ days", text)
    )
    assert "range_cards" not in response.context
    assert "chart-comparison" not in response.content.decode()


# -- the comparisons --------------------------------------------------------------


def test_compare_year_uses_the_same_dates_a_year_earlier(analyst_client):
    _days(dt.date(2025, 3, 1), dt.date(2025, 3, 31), gross=lambda d: 50)
    _days(dt.date(2026, 3, 1), dt.date(2026, 3, 31), gross=lambda d: 70)
    response = _get(
        analyst_client, **{"from": "2026-03-10", "to": "2026-03-19", "compare": "year"}
    )
    gross = _card(response, "gross_revenue_pennies")
    assert response.context["params"]["comparison"] == Window(
        dt.date(2025, 3, 10), dt.date(2025, 3, 19)
    )
    assert (gross.current, gross.previous, gross.change) == (700, 500, 200)
    assert gross.change_ratio == Decimal("0.4")
    assert re.search(
        r"Gross revenue £7\.00 A year earlier: £5\.00 Change: \+£2\.00 \(\+40%\)",
        _text(response),
    )


def test_compare_year_maps_29_february_to_28_february(analyst_client):
    _days(dt.date(2023, 2, 20), dt.date(2023, 3, 5), gross=lambda d: d.day)
    _days(dt.date(2024, 2, 20), dt.date(2024, 3, 5), gross=lambda d: 1000)
    # A range ending on the leap day: a year earlier ends on 28 February.
    leap = Window(dt.date(2024, 2, 20), dt.date(2024, 2, 29))
    assert leap.year_earlier() == Window(dt.date(2023, 2, 20), dt.date(2023, 2, 28))
    assert Window(dt.date(2024, 2, 29), dt.date(2024, 2, 29)).year_earlier() == Window(
        dt.date(2023, 2, 28), dt.date(2023, 2, 28)
    )
    response = _get(
        analyst_client, **{"from": "2024-02-20", "to": "2024-02-29", "compare": "year"}
    )
    gross = _card(response, "gross_revenue_pennies")
    assert gross.current == 10 * 1000
    assert gross.previous == sum(range(20, 29))  # 20..28 Feb 2023, each once
    # The chart draws 29 Feb against nothing (28 Feb is drawn against 28 Feb).
    rows = response.context["comparison_table"].rows
    assert [r.day if r else None for r in rows[-2:]] == [dt.date(2023, 2, 28), None]
    # And back: 20–28 Feb 2025 against 20–28 Feb 2024, the leap day left out.
    assert Window(dt.date(2025, 2, 20), dt.date(2025, 2, 28)).year_earlier() == (
        Window(dt.date(2024, 2, 20), dt.date(2024, 2, 28))
    )
    # A 29 February on its own still has its year-earlier day.
    one_day = Window(dt.date(2024, 2, 29), dt.date(2024, 2, 29))
    assert one_day.counterpart(dt.date(2024, 2, 29), COMPARE_YEAR) == dt.date(
        2023, 2, 28
    )


def test_compare_none_shows_no_comparison(analyst_client):
    _days(dt.date(2026, 5, 1), dt.date(2026, 6, 30))
    response = _get(
        analyst_client, **{"from": "2026-06-01", "to": "2026-06-30", "compare": "none"}
    )
    assert response.status_code == 200
    body, text = response.content.decode(), _text(response)
    assert response.context["params"]["comparison"] is None
    assert _card(response, "gross_revenue_pennies").current == 3000
    assert "stat-compare" not in body and "Change:" not in text
    assert "chart-comparison" not in body and "Previous period:" not in text
    assert "1 Jun 2026–30 Jun 2026 30 days, no comparison" in text


def test_the_charts_overlay_the_comparison_with_a_legend_and_table_columns(
    analyst_client,
):
    _days(dt.date(2026, 5, 1), dt.date(2026, 6, 30), gross=lambda d: d.day * 10)
    response = _get(analyst_client, **{"from": "2026-06-01", "to": "2026-06-30"})
    money = response.context["money_chart"]
    comparison = [s for s in money.series if s.dashed]
    assert [s.name for s in comparison] == ["Gross, previous period"]
    assert comparison[0].values == [d * 10 for d in range(2, 32)]  # 2–31 May
    html = money.html
    assert 'class="chart-comparison"' in html and "Gross, previous period</li>" in html
    assert "02 May 2026 · Gross, previous period: £0.20" in html
    orders = response.context["orders_chart"]
    assert [s.name for s in orders.overlay] == ["Paid orders, previous period"]
    body = response.content.decode()
    assert '<th scope="col" class="num">Gross then</th>' in body
    assert "Sat 2 May 2026" in _text(response)  # 1 Jun's comparison day


@pytest.mark.parametrize("page", DASHBOARDS)
@pytest.mark.parametrize("compare", [COMPARE_PREVIOUS, COMPARE_YEAR, COMPARE_NONE])
def test_every_dashboard_takes_a_range_and_a_comparison(analyst_client, page, compare):
    _days(dt.date(2025, 5, 1), dt.date(2025, 6, 30))
    _days(dt.date(2026, 5, 1), dt.date(2026, 6, 30))
    MrrDailySnapshot.objects.create(day=dt.date(2025, 6, 30), mrr_pennies=900)
    MrrDailySnapshot.objects.create(day=dt.date(2026, 6, 30), mrr_pennies=1200)
    response = _get(
        analyst_client,
        page,
        **{"from": "2026-06-01", "to": "2026-06-30", "compare": compare},
    )
    assert response.status_code == 200
    params = response.context["params"]
    assert params["range"] == Window(dt.date(2026, 6, 1), dt.date(2026, 6, 30))
    assert params["custom"] and (params["comparison"] is None) == (
        compare == COMPARE_NONE
    )
    html = response.content.decode()
    assert unmapped(html) == []  # every number shown maps to a contract column
    assert ("stat-compare" in html) == (compare != COMPARE_NONE)
    if page == "subscriptions" and compare == COMPARE_YEAR:
        assert re.search(r"MRR £12\.00 .*A year earlier: £9\.00", _text(response))


def test_the_products_page_shows_each_best_seller_then(analyst_client):
    from analyticsapp.models import ProductDailySnapshot
    from catalog.tests.factories import VariantFactory

    variant = VariantFactory()
    for day, units in [(dt.date(2026, 6, 10), 3), (dt.date(2026, 5, 10), 2)]:
        ProductDailySnapshot.objects.create(
            day=day,
            product=variant.product,
            variant=variant,
            units=units,
            revenue_pennies=units * 500,
        )
    response = _get(
        analyst_client, "products", **{"from": "2026-06-01", "to": "2026-06-30"}
    )
    [seller] = response.context["sellers"]
    assert (seller["units"], seller["units_then"]) == (3, 2)
    assert seller["revenue_then_pennies"] == 1000
    chart = response.context["sellers_chart"]
    assert [s.values for s in chart.overlay] == [[2]]


# -- bad values and refusals ------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # Each bad value falls back to its default; the others still count.
        ({"from": "not-a-day", "to": "2026-06-30", "compare": "year"},
         (dt.date(2026, 6, 1), dt.date(2026, 6, 30), COMPARE_YEAR)),
        ({"from": "2026-06-01", "to": "2026-02-30", "compare": "none"},
         (dt.date(2026, 6, 1), dt.date(2026, 7, 14), COMPARE_NONE)),
        ({"from": "2026-06-01", "to": "2026-06-10", "compare": "decade"},
         (dt.date(2026, 6, 1), dt.date(2026, 6, 10), COMPARE_PREVIOUS)),
        ({"from": "2026-06-01", "to": "2026-06-10", "as_of": "2026-07-20"},
         (dt.date(2026, 6, 1), dt.date(2026, 6, 10), COMPARE_PREVIOUS)),
    ],
)  # fmt: skip
def test_a_bad_value_is_ignored_on_its_own(analyst_client, query, expected):
    response = _get(analyst_client, **query)
    assert response.status_code == 200
    params = response.context["params"]
    assert (params["range"].start, params["range"].end, params["compare"]) == expected
    assert response.context["form"].errors  # and the page says which was ignored
    assert 'role="alert"' in response.content.decode()


@pytest.mark.parametrize("page", DASHBOARDS)
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"to": "2026-07-15"}, "A range ends on a day that is over: 14 Jul 2026"),
        ({"from": "2026-07-01", "to": "2026-08-01"}, "a day that is over"),
        ({"from": "2026-07-20"}, "a day that is over"),
        ({"from": "2024-07-13", "to": "2026-07-14"}, "A range covers at most 731 days"),
        ({"from": "2026-06-10", "to": "2026-06-01"}, "The range ends before it starts"),
    ],
)
def test_a_range_that_cannot_be_shown_is_refused_with_a_message(
    analyst_client, page, query, message
):
    response = _get(analyst_client, page, **query)
    assert response.status_code == 400
    assert message in _text(response)
    params = response.context["params"]  # the page shows its default range
    assert not params["custom"] and params["as_of"] == dt.date(2026, 7, 14)


def test_the_longest_range_is_731_days(analyst_client):
    response = _get(analyst_client, **{"from": "2024-07-14", "to": "2026-07-14"})
    assert response.status_code == 200
    assert response.context["params"]["range"].days == 731


def test_a_day_outside_2000_to_2100_is_still_a_400(analyst_client):
    response = _get(analyst_client, **{"from": "1999-12-31", "to": "2000-01-10"})
    assert response.status_code == 400
    assert "Pick a day from 1 Jan 2000 to 31 Dec 2100." in _text(response)


# -- cost ----------------------------------------------------------------------------

QUERY_BOUND = 40


@pytest.mark.parametrize("page", DASHBOARDS)
def test_a_dashboards_query_count_does_not_grow_with_the_range(
    analyst_client, django_assert_max_num_queries, page
):
    _days(dt.date(2024, 7, 1), dt.date(2026, 7, 14))
    counts = {}
    for days in (30, 365):
        start = dt.date(2026, 7, 14) - dt.timedelta(days=days - 1)
        query = {"from": start.isoformat(), "to": "2026-07-14", "compare": "year"}
        cache.clear()  # each range computed, not read from the KPI cache
        with (
            django_assert_max_num_queries(QUERY_BOUND),
            CaptureQueriesContext(connection) as queries,
        ):
            response = _get(analyst_client, page, **query)
        assert response.status_code == 200
        counts[days] = len(queries)
    assert counts[30] == counts[365], counts


def test_a_zero_comparison_shows_the_change_without_a_percentage(analyst_client):
    _days(dt.date(2026, 5, 25), dt.date(2026, 5, 31), gross=lambda d: 0)
    _days(dt.date(2026, 6, 1), dt.date(2026, 6, 7), gross=lambda d: 100)
    response = _get(analyst_client, **{"from": "2026-06-01", "to": "2026-06-07"})
    gross = _card(response, "gross_revenue_pennies")
    assert (gross.previous, gross.change, gross.change_ratio) == (0, 700, None)
    assert re.search(
        r"Gross revenue £7\.00 Previous period: £0\.00 Change: \+£7\.00 \( — \)",
        _text(response),
    )
    # Before the history: "no prior data", not a change.
    response = _get(analyst_client, **{"from": "2026-05-25", "to": "2026-05-31"})
    assert re.search(
        r"Gross revenue £0\.00 Previous period: no prior data Net", (_text(response))
    )
