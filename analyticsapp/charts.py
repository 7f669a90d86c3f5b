"""Charts drawn on the server as SVG: no JavaScript, no CDN, tooltips from <title>.

Each function returns plain geometry for a template (analyticsapp/_chart_*.html);
every chart page also carries the same numbers as a table.
"""

from dataclasses import dataclass, field

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


def _fmt(value, money):
    return format_money(value) if money else f"{value:,}"


def _scale(chart: Chart, top: int):
    top = max(top, 1)
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
    light = round(96 - 56 * level)
    return f"hsl(232, 66%, {light}%)"
