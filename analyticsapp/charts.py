"""Charts drawn on the server as SVG: no JavaScript, no CDN, tooltips from <title>.

Each function returns the geometry; `Chart.html` draws it (the template includes
analyticsapp/_chart.html). Every chart page also carries the same numbers as a table.
The presenters at the end turn each dashboard's rows into its charts, so the views
only hand rows over.
"""

from dataclasses import dataclass, field
from functools import cached_property

from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.text import slugify

from core.money import format_money

WIDTH, HEIGHT = 720, 240
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 12, 22, 28
PALETTE = ["#3b4fd8", "#16794a", "#b42318", "#c2571a", "#7a4fa0"]


@dataclass
class Series:
    """One line or bar series. A value of None is "not applicable" (an average of
    no orders): a line has a gap there, never a 0."""

    name: str
    values: list[int | None]
    color: str = ""
    money: bool = True
    currency: str | None = None
    # A comparison series (the previous period, a year earlier): drawn lighter and
    # dashed over the range's own, each value's tooltip naming its own day.
    dashed: bool = False
    days: list[str] | None = None


@dataclass
class Chart:
    title: str
    labels: list[str]
    series: list[Series]
    width: int = WIDTH
    height: int = HEIGHT
    y_ticks: list[dict] = field(default_factory=list)
    x_ticks: list[dict] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)
    bars: list[dict] = field(default_factory=list)
    points: list[dict] = field(default_factory=list)
    # Series drawn as dashed lines over the bars of a bar chart (comparisons).
    overlay: list[Series] = field(default_factory=list)

    @property
    def plot_bottom(self):
        return self.height - PAD_BOTTOM

    @property
    def plot_right(self):
        return self.width - PAD_RIGHT

    @cached_property
    def html(self) -> str:
        """The figure as markup: drawn here, not by template loops, because a 90-day
        page has thousands of marks (a template renders them ten times slower).

        The marks sit in an inner SVG stretched to the figure (its viewBox is not
        kept in proportion); the axis labels sit outside it, placed by percentage,
        so they keep their CSS size on a phone instead of shrinking with the
        drawing. On narrow screens every other day label is hidden (CSS)."""
        slug = slugify(self.title)
        names = ", ".join(escape(s.name) for s in [*self.series, *self.overlay])
        span = (
            f"{escape(self.labels[0])} to {escape(self.labels[-1])}; "
            if self.labels
            else ""
        )

        def pct(value, whole):
            return f"{100 * value / whole:.2f}%"

        parts = [
            '<figure class="chart">',
            f'<figcaption id="chart-{slug}">{escape(self.title)}</figcaption>',
            f'<svg role="img" aria-labelledby="chart-{slug} chart-{slug}-desc" '
            'class="chart-svg chart-fluid" width="100%" height="240">',
            f'<desc id="chart-{slug}-desc">{span}series: {names}. The numbers are '
            "also given as a table on this page.</desc>",
            f'<svg viewBox="0 0 {self.width} {self.height}" preserveAspectRatio="none"'
            ' width="100%" height="100%" class="chart-plot">',
        ]
        for i, tick in enumerate(self.y_ticks):
            kind = "chart-axis" if i == 0 else "chart-gridline"
            parts.append(
                f'<line x1="0" x2="{self.plot_right}" y1="{tick["y"]}" '
                f'y2="{tick["y"]}" class="{kind}" stroke="#e4e7ef" stroke-width="1" '
                'vector-effect="non-scaling-stroke"/>'
            )
        for bar in self.bars:
            parts.append(
                f'<rect x="{bar["x"]}" y="{bar["y"]}" width="{bar["w"]}" '
                f'height="{bar["h"]}" fill="{bar["color"]}" class="chart-bar">'
                f"<title>{escape(bar['tip'])}</title></rect>"
            )
        for line in self.lines:
            dash = (
                ' stroke-dasharray="6 4" stroke-opacity="0.6" class="chart-comparison"'
                if line.get("dashed")
                else ""
            )
            parts.append(
                f'<polyline points="{line["points"]}" fill="none" '
                f'stroke="{line["color"]}" stroke-width="2" stroke-linejoin="round" '
                f'vector-effect="non-scaling-stroke"{dash}/>'
            )
        for p in self.points:
            parts.append(
                f'<circle cx="{p["x"]}" cy="{p["y"]}" r="4" fill="{p["color"]}" '
                'fill-opacity="0.01" stroke="none" class="chart-point">'
                f"<title>{escape(p['tip'])}</title></circle>"
            )
        parts.append("</svg>")
        for tick in self.y_ticks:
            parts.append(
                f'<text x="0" y="{pct(tick["y"], self.height)}" dy="-4" '
                'font-size="12" fill="#586079" class="chart-tick chart-ytick">'
                f"{escape(tick['label'])}</text>"
            )
        thin = len(self.x_ticks) > 6
        for i, tick in enumerate(self.x_ticks):
            alt = " chart-xtick-alt" if thin and i % 2 else ""
            parts.append(
                f'<text x="{pct(tick["x"], self.width)}" '
                f'y="{pct(self.height - 8, self.height)}" text-anchor="middle" '
                f'font-size="12" fill="#586079" class="chart-tick chart-xtick{alt}">'
                f"{escape(tick['label'])}</text>"
            )
        parts.append('</svg><ul class="legend" aria-label="Legend">')
        for s in [*self.series, *self.overlay]:
            swatch = (
                f'<line x1="0" x2="18" y1="6" y2="6" stroke="{s.color}" '
                'stroke-width="2" stroke-dasharray="4 3" stroke-opacity="0.6"/>'
                if s.dashed
                else f'<rect width="12" height="12" rx="2" fill="{s.color}"/>'
            )
            width = 18 if s.dashed else 12
            parts.append(
                f'<li><svg width="{width}" height="12" aria-hidden="true" '
                f'focusable="false">{swatch}</svg> {escape(s.name)}</li>'
            )
        parts.append("</ul></figure>")
        return mark_safe("".join(parts))


def _fmt(value, money, currency=None):
    if value is None:
        return "not applicable"
    return format_money(value, currency) if money else f"{value:,}"


def _scale(chart: Chart, top: int):
    top = max(top, 1)
    if chart.series and not chart.series[0].money:
        top = -(-top // 4) * 4  # counts: four whole-number steps, never 2.5
    span = chart.plot_bottom - PAD_TOP

    def y(value):
        return round(chart.plot_bottom - span * value / top, 1)

    money = chart.series[0].money if chart.series else True
    currency = chart.series[0].currency if chart.series else None
    chart.y_ticks = [
        {"y": y(top * i / 4), "label": _fmt(round(top * i / 4), money, currency)}
        for i in range(5)
    ]
    return y


def _x_positions(chart: Chart):
    n = max(len(chart.labels), 1)
    step = (chart.plot_right - PAD_LEFT) / n
    every = max(1, n // 8)
    chart.x_ticks = [
        {"x": round(PAD_LEFT + step * (i + 0.5), 1), "label": label}
        for i, label in enumerate(chart.labels)
        if i % every == 0
    ]
    return step


def line_chart(title, labels, series: list[Series]) -> Chart:
    chart = Chart(title, labels, series)
    top = max(
        (max((v for v in s.values if v is not None), default=0) for s in series),
        default=0,
    )
    y = _scale(chart, _nice(top))
    step = _x_positions(chart)
    for index, s in enumerate(series):
        s.color = s.color or PALETTE[index % len(PALETTE)]
        _draw_line(chart, s, y, step)
    return chart


def _draw_line(chart: Chart, s: Series, y, step: float) -> None:
    segment = []
    labels = s.days or chart.labels
    for i, (label, value) in enumerate(zip(labels, s.values, strict=False)):
        if value is None:  # a gap: the line stops and starts again after it
            _add_line(chart, s, segment)
            segment = []
            continue
        point = (round(PAD_LEFT + step * (i + 0.5), 1), y(value))
        segment.append(point)
        chart.points.append(
            {
                "x": point[0],
                "y": point[1],
                "color": s.color,
                "tip": f"{label} · {s.name}: {_fmt(value, s.money, s.currency)}",
            }
        )
    _add_line(chart, s, segment)


def _add_line(chart: Chart, s: Series, points: list[tuple]) -> None:
    if points:
        chart.lines.append(
            {
                "color": s.color,
                "dashed": s.dashed,
                "points": " ".join(f"{x},{y}" for x, y in points),
            }
        )


def stacked_bars(title, labels, series: list[Series], overlay=()) -> Chart:
    """Bars stacked per label; each `overlay` series (a comparison) is a dashed
    line over them, on the same scale."""
    chart = Chart(title, labels, series, overlay=list(overlay))
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    overlaid = [v for s in overlay for v in s.values if v is not None]
    y = _scale(chart, _nice(max([*totals, *overlaid], default=0)))
    step = _x_positions(chart)
    width = max(step * 0.7, 1)
    for i, label in enumerate(labels):
        base = 0
        for index, s in enumerate(series):
            s.color = s.color or PALETTE[index % len(PALETTE)]
            value = s.values[i]
            if value <= 0:
                continue
            top, bottom = y(base + value), y(base)
            chart.bars.append(
                {"x": round(PAD_LEFT + step * i + (step - width) / 2, 1),
                 "y": top, "w": round(width, 1), "h": round(bottom - top, 1),
                 "color": s.color,
                 "tip": f"{label} · {s.name}: {_fmt(value, s.money, s.currency)}"}
            )  # fmt: skip
            base += value
    for index, s in enumerate(chart.overlay):
        s.color = s.color or PALETTE[index % len(PALETTE)]
        _draw_line(chart, s, y, step)
    return chart


def _nice(value: int) -> int:
    """A round axis maximum at or above `value`."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return int(step * magnitude)
    return int(10 * magnitude)


def heat(share) -> str:
    """A colour for a share from 0 to 1 (cohort retention cells); a neutral grey
    for a share that is not applicable (a month that has not happened yet)."""
    if share is None:
        return "hsl(225, 14%, 93%)"
    level = min(max(float(share), 0.0), 1.0)
    # From near white to a mid blue that dark cell labels still read on (4.5:1).
    light = round(97 - 29 * level)
    return f"hsl(232, 75%, {light}%)"


# Presenters: each dashboard's rows as its charts.


@dataclass
class Comparison:
    """What a range's charts overlay: the comparison's name ("a year earlier")
    and, for each day of the range, the comparison's row for it (None where that
    day has no counterpart: 29 February a year on)."""

    name: str
    rows: list
    # The revenue of each comparison day's paid orders (the AOV line), by day.
    paid_order_revenue: dict = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return [r.day.strftime("%d %b %Y") if r is not None else "" for r in self.rows]

    def values(self, name: str) -> list:
        return [getattr(r, name) if r is not None else None for r in self.rows]

    def series(self, label: str, name: str, color: str, **kwargs) -> Series:
        return Series(
            f"{label}, {self.name}",
            self.values(name),
            color=color,
            dashed=True,
            days=self.labels,
            **kwargs,
        )


def _aov(rows, revenue: dict) -> list:
    return [
        round(revenue.get(d.day, 0) / d.paid_orders)
        if d is not None and d.paid_orders
        else None  # no orders: no average, not 0
        for d in rows
    ]


def day_labels(days) -> list[str]:
    """Axis labels for a run of days (dates, or rows with a `day`)."""
    return [getattr(d, "day", d).strftime("%d %b") for d in days]


def executive_charts(
    series, paid_order_revenue: dict, currency: str, comparison: Comparison = None
) -> dict:
    """Money, paid orders and AOV per day, from daily snapshots and the revenue of
    each day's paid orders; with a comparison, its gross, paid orders and AOV
    overlaid (its net and refunds are in the table: six lines do not read)."""
    labels = day_labels(series)

    def money(name, field):
        return Series(name, [getattr(d, field) for d in series], currency=currency)

    money_lines = [
        money("Gross", "gross_revenue_pennies"),
        money("Net", "net_revenue_pennies"),
        money("Refunds", "refunds_pennies"),
    ]
    aov_lines = [Series("AOV", _aov(series, paid_order_revenue), currency=currency)]
    orders_overlay = []
    if comparison is not None:
        money_lines.append(
            comparison.series(
                "Gross", "gross_revenue_pennies", PALETTE[0], currency=currency
            )
        )
        aov_lines.append(
            Series(
                f"AOV, {comparison.name}",
                _aov(comparison.rows, comparison.paid_order_revenue),
                color=PALETTE[0],
                currency=currency,
                dashed=True,
                days=comparison.labels,
            )
        )
        orders_overlay.append(
            comparison.series("Paid orders", "paid_orders", PALETTE[2], money=False)
        )
    return {
        "money_chart": line_chart("Daily gross, net and refunds", labels, money_lines),
        "orders_chart": stacked_bars(
            "Paid orders per day",
            labels,
            [Series("Paid orders", [d.paid_orders for d in series], money=False)],
            overlay=orders_overlay,
        ),
        "aov_chart": line_chart("Average order value per day", labels, aov_lines),
    }


def customer_mix_chart(series, comparison: Comparison = None) -> Chart:
    overlay = []
    if comparison is not None:
        overlay = [comparison.series("Customers", "customers", PALETTE[2], money=False)]
    return stacked_bars(
        "New and returning customers per day",
        day_labels(series),
        [
            Series("New", [d.new_customers for d in series], money=False),
            Series("Returning", [d.returning_customers for d in series], money=False),
        ],
        overlay=overlay,
    )


def cohort_heatmap(cohorts: list[dict], *, cell: int = 34) -> dict:
    """The cohort retention table as heatmap geometry (the template draws it)."""
    months = len(cohorts[0]["shares"]) if cohorts else 12
    return {
        "width": 120 + cell * months,
        "height": 24 + cell * max(len(cohorts), 1),
        "months": [{"x": 120 + cell * k + cell / 2, "k": k} for k in range(months)],
        "rows": [
            {
                "y": 24 + cell * i,
                "label_y": 24 + cell * i + cell / 2 + 4,
                "label": f"{row['month']:%b %Y} ({row['size']})",
                "cells": [
                    {
                        "x": 120 + cell * k,
                        "fill": heat(share),
                        "tip": f"{row['month']:%b %Y}, month {k}: "
                        + (f"{share:.0%}" if share is not None else "not yet"),
                        "text": f"{share:.0%}" if share else "",
                    }
                    for k, share in enumerate(row["shares"])
                ],
            }
            for i, row in enumerate(cohorts)
        ],
        "cell": cell,
    }


def best_sellers_chart(
    sellers: list[dict], days: int, comparison_name: str | None = None
) -> Chart:
    """Units per variant; with a comparison, each variant's units then (the
    `units_then` of its row) as a dashed line over the bars."""
    overlay = []
    if comparison_name:
        overlay = [
            Series(
                f"Units, {comparison_name}",
                [s.get("units_then", 0) for s in sellers],
                color=PALETTE[2],
                money=False,
                dashed=True,
            )
        ]
    return stacked_bars(
        f"Best sellers, {days} days (units)",
        [s["variant__sku"] for s in sellers],
        [Series("Units", [s["units"] for s in sellers], money=False)],
        overlay=overlay,
    )


def refunds_chart(series, currency: str, comparison: Comparison = None) -> Chart:
    overlay = []
    if comparison is not None:
        overlay = [
            comparison.series(
                "Refunds", "refunds_pennies", PALETTE[0], currency=currency
            )
        ]
    return stacked_bars(
        "Refunds per day",
        day_labels(series),
        [Series("Refunds", [d.refunds_pennies for d in series], currency=currency)],
        overlay=overlay,
    )


def backlog_chart(buckets: list[tuple[str, int]]) -> Chart:
    return stacked_bars(
        "Paid, not fulfilled, by age",
        [label for label, _ in buckets],
        [Series("Orders", [n for _, n in buckets], money=False)],
    )


def mrr_charts(days, currency: str, comparison: Comparison = None) -> dict:
    """MRR at each day's end (with a comparison, its MRR overlaid), and the MRR
    gained and lost per day."""
    labels = day_labels(days)

    def values(name, field, color=""):
        return Series(
            name, [getattr(d, field) for d in days], color=color, currency=currency
        )

    mrr_lines = [values("MRR", "mrr_pennies")]
    if comparison is not None:
        mrr_lines.append(
            comparison.series("MRR", "mrr_pennies", PALETTE[0], currency=currency)
        )
    return {
        "mrr_chart": line_chart("MRR at the end of each day", labels, mrr_lines),
        "gains_chart": stacked_bars(
            "MRR gained per day",
            labels,
            [
                values("New", "new_pennies"),
                values("Expansion", "expansion_pennies"),
                values("Reactivation", "reactivation_pennies"),
            ],
        ),
        "losses_chart": stacked_bars(
            "MRR lost per day",
            labels,
            [
                values("Contraction", "contraction_pennies", "#c2571a"),
                values("Churn", "churn_pennies", "#b42318"),
            ],
        ),
    }


def payouts_chart(payouts, currency: str) -> Chart:
    """Payouts by the day they were made (amount; its lines' net beside it)."""
    ordered = sorted(payouts, key=lambda p: p.stripe_created)
    return stacked_bars(
        "Payouts to the bank",
        [f"{p.stripe_created:%d %b}" for p in ordered],
        [Series("Payout", [p.amount_pennies for p in ordered], currency=currency)],
    )
