"""Charts drawn on the server as SVG: no JavaScript, no CDN, tooltips from <title>.

Each function returns the geometry; `Chart.html` draws it (the template includes
analyticsapp/_chart.html). Every chart page also carries the same numbers as a table.
"""

from dataclasses import dataclass, field
from functools import cached_property

from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.text import slugify

from core.money import format_money

WIDTH, HEIGHT = 720, 240
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 12, 12, 28
PALETTE = ["#3b4fd8", "#16794a", "#b42318", "#c2571a", "#7a4fa0"]


@dataclass
class Series:
    name: str
    values: list[int]
    color: str = ""
    money: bool = True


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

    @property
    def plot_bottom(self):
        return self.height - PAD_BOTTOM

    @property
    def plot_right(self):
        return self.width - PAD_RIGHT

    @cached_property
    def html(self) -> str:
        """The figure as markup: drawn here, not by template loops, because a 90-day
        page has thousands of marks (a template renders them ten times slower)."""
        slug = slugify(self.title)
        names = ", ".join(escape(s.name) for s in self.series)
        span = (
            f"{escape(self.labels[0])} to {escape(self.labels[-1])}; "
            if self.labels
            else ""
        )
        parts = [
            '<figure class="chart">',
            f'<figcaption id="chart-{slug}">{escape(self.title)}</figcaption>',
            f'<svg viewBox="0 0 {self.width} {self.height}" role="img" '
            f'aria-labelledby="chart-{slug} chart-{slug}-desc" class="chart-svg">',
            f'<desc id="chart-{slug}-desc">{span}series: {names}. The numbers are '
            "also given as a table on this page.</desc>",
        ]
        for i, tick in enumerate(self.y_ticks):
            kind = "chart-axis" if i == 0 else "chart-gridline"
            parts.append(
                f'<line x1="64" x2="{self.plot_right}" y1="{tick["y"]}" '
                f'y2="{tick["y"]}" class="{kind}" stroke="#e4e7ef" stroke-width="1"/>'
                f'<text x="58" y="{tick["y"]}" text-anchor="end" '
                f'dominant-baseline="middle" font-size="10" fill="#586079">'
                f"{escape(tick['label'])}</text>"
            )
        for tick in self.x_ticks:
            parts.append(
                f'<text x="{tick["x"]}" y="{self.height - 8}" text-anchor="middle" '
                f'font-size="10" fill="#586079">{escape(tick["label"])}</text>'
            )
        for bar in self.bars:
            parts.append(
                f'<rect x="{bar["x"]}" y="{bar["y"]}" width="{bar["w"]}" '
                f'height="{bar["h"]}" fill="{bar["color"]}" class="chart-bar">'
                f"<title>{escape(bar['tip'])}</title></rect>"
            )
        for line in self.lines:
            parts.append(
                f'<polyline points="{line["points"]}" fill="none" '
                f'stroke="{line["color"]}" stroke-width="2" stroke-linejoin="round"/>'
            )
        for p in self.points:
            parts.append(
                f'<circle cx="{p["x"]}" cy="{p["y"]}" r="4" fill="{p["color"]}" '
                'fill-opacity="0.01" stroke="none" class="chart-point">'
                f"<title>{escape(p['tip'])}</title></circle>"
            )
        parts.append('</svg><ul class="legend" aria-label="Legend">')
        for s in self.series:
            parts.append(
                '<li><svg width="12" height="12" aria-hidden="true" focusable="false">'
                f'<rect width="12" height="12" rx="2" fill="{s.color}"/></svg> '
                f"{escape(s.name)}</li>"
            )
        parts.append("</ul></figure>")
        return mark_safe("".join(parts))


def _fmt(value, money):
    return format_money(value) if money else f"{value:,}"


def _scale(chart: Chart, top: int):
    top = max(top, 1)
    if chart.series and not chart.series[0].money:
        top = -(-top // 4) * 4  # counts: four whole-number steps, never 2.5
    span = chart.plot_bottom - PAD_TOP

    def y(value):
        return round(chart.plot_bottom - span * value / top, 1)

    money = chart.series[0].money if chart.series else True
    chart.y_ticks = [
        {"y": y(top * i / 4), "label": _fmt(round(top * i / 4), money)}
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
    top = max((max(s.values, default=0) for s in series), default=0)
    y = _scale(chart, _nice(top))
    step = _x_positions(chart)
    for index, s in enumerate(series):
        s.color = s.color or PALETTE[index % len(PALETTE)]
        coords = [
            (round(PAD_LEFT + step * (i + 0.5), 1), y(v))
            for i, v in enumerate(s.values)
        ]
        chart.lines.append(
            {"color": s.color, "points": " ".join(f"{x},{yy}" for x, yy in coords)}
        )
        for (x, yy), label, value in zip(coords, labels, s.values, strict=False):
            chart.points.append(
                {
                    "x": x,
                    "y": yy,
                    "color": s.color,
                    "tip": f"{label} · {s.name}: {_fmt(value, s.money)}",
                }
            )
    return chart


def stacked_bars(title, labels, series: list[Series]) -> Chart:
    chart = Chart(title, labels, series)
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    y = _scale(chart, _nice(max(totals, default=0)))
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
                 "color": s.color, "tip": f"{label} · {s.name}: {_fmt(value, s.money)}"}
            )  # fmt: skip
            base += value
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
    """A colour for a share from 0 to 1 (cohort retention cells)."""
    level = min(max(float(share), 0.0), 1.0)
    # From near white to a mid blue that dark cell labels still read on (4.5:1).
    light = round(97 - 29 * level)
    return f"hsl(232, 75%, {light}%)"
