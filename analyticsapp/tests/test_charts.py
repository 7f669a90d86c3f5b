"""Server-drawn SVG charts: marks for every value, text escaped, accessible names."""

from analyticsapp import charts


def test_a_line_chart_draws_a_line_and_a_tooltip_per_value_with_text_escaped():
    chart = charts.line_chart(
        "Daily <gross>",
        ["01 Jan", "02 Jan", "03 Jan"],
        [charts.Series("Gross & net", [100, 250, 0])],
    )
    html = chart.html
    assert html.count("<polyline") == 1
    assert html.count('class="chart-point"') == 3
    assert "<title>02 Jan · Gross &amp; net: £2.50</title>" in html
    assert "Daily &lt;gross&gt;" in html and "<gross>" not in html
    assert (
        'role="img" aria-labelledby="chart-daily-gross chart-daily-gross-desc"' in html
    )
    assert "01 Jan to 03 Jan; series: Gross &amp; net." in html


def test_stacked_bars_skip_zero_values_and_stack_in_order():
    chart = charts.stacked_bars(
        "Customers",
        ["Mon", "Tue"],
        [
            charts.Series("New", [2, 0], money=False),
            charts.Series("Returning", [3, 1], money=False),
        ],
    )
    assert chart.html.count("<rect x=") == 3  # Tue has no new customers
    new, returning = chart.bars[0], chart.bars[1]
    assert returning["y"] < new["y"]  # drawn on top of the first series
    assert "<title>Mon · Returning: 3</title>" in chart.html


def test_count_axes_step_in_whole_numbers():
    chart = charts.stacked_bars(
        "Paid orders", ["Mon"], [charts.Series("Paid orders", [9], money=False)]
    )
    assert [t["label"] for t in chart.y_ticks] == ["0", "3", "6", "9", "12"]


def test_a_value_that_is_not_applicable_leaves_a_gap_not_a_zero():
    chart = charts.line_chart(
        "AOV", ["Mon", "Tue", "Wed"], [charts.Series("AOV", [500, None, 700])]
    )
    assert len(chart.lines) == 2  # the line stops at Tue and starts again
    assert [p["tip"] for p in chart.points] == ["Mon · AOV: £5.00", "Wed · AOV: £7.00"]


def test_money_is_drawn_in_the_series_currency():
    chart = charts.stacked_bars(
        "Refunds", ["Mon"], [charts.Series("Refunds", [1250], currency="USD")]
    )
    assert "<title>Mon · Refunds: $12.50</title>" in chart.html
