"""Dashboards (snapshots only) and exports.

Each dashboard view reads its range form, calls the selectors and the chart
presenter, and renders: the reads live in analyticsapp/selectors.py, the charts in
analyticsapp/charts.py.
"""

import datetime as dt
import html
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe

from analyticsapp import charts, selectors
from analyticsapp.export_formats import (
    BI_PACK_FORMATS,
    FORMATS,
    UnknownFormat,
    export_format,
)
from analyticsapp.exports import (
    BI_MANIFEST,
    EXPORTS,
    Filters,
    audit_export,
    bi_pack,
    export_chunks,
)
from analyticsapp.forms import DashboardForm, ExportForm
from analyticsapp.kpis import (
    COMPARE_YEAR,
    COMPARISONS,
    WINDOWS,
    Window,
    default_as_of,
)
from core.forms import bad_input
from orders.selectors import ops_backlog

CARDS = [
    ("gross_revenue_pennies", "Gross revenue", "gross_revenue", True),
    ("net_revenue_pennies", "Net revenue", "net_revenue", True),
    ("refunds_pennies", "Refunds", "refunds", True),
    ("dispute_losses_pennies", "Dispute losses", "dispute_losses", True),
    ("stripe_fees_pennies", "Stripe fees", "stripe_fees", True),
    ("dispute_fees_pennies", "Dispute fees", "dispute_fees", True),
    (
        "net_revenue_after_fees_pennies",
        "Net revenue after fees",
        "net_revenue_after_fees",
        True,
    ),
    ("paid_orders", "Paid orders", "paid_orders", False),
    ("aov_pennies", "Average order value", "aov", True),
    ("customers", "Customers", "customers", False),
    ("new_customers", "New customers", "new_customers", False),
    ("repeat_purchase_rate", "Repeat purchase rate", "repeat_purchase_rate", False),
    ("refund_rate", "Refund rate", "refund_rate", False),
    ("effective_fee_rate", "Effective fee rate", "effective_fee_rate", False),
]


LOWER_IS_BETTER = {
    "refunds_pennies",
    "dispute_losses_pennies",
    "refund_rate",
    "stripe_fees_pennies",
    "dispute_fees_pennies",
    "effective_fee_rate",
}


def _cards(kpis: dict, specs=CARDS) -> list[dict]:
    return [
        {
            "key": key,
            "label": label,
            "anchor": anchor,
            "money": money,
            "kpi": kpis[key],
            "share": key.endswith("_rate"),
            # A fall is good news for these.
            "lower_is_better": key in LOWER_IS_BETTER,
        }
        for key, label, anchor, money in specs
    ]


def _window_cards(summaries: list[dict]) -> list[dict]:
    return [
        {
            "days": summary["days"],
            "window": summary["window"],
            "previous": summary["previous_window"],
            "prior_data": summary["prior_data"],
            "cards": _cards(summary["kpis"]),
        }
        for summary in summaries
    ]


def _specs(*keys: str) -> list[tuple]:
    """The CARDS of these KPIs, in this order."""
    by_key = {spec[0]: spec for spec in CARDS}
    return [by_key[key] for key in keys]


CUSTOMER_CARDS = _specs(
    "customers", "new_customers", "repeat_purchase_rate", "paid_orders"
)
OPS_CARDS = _specs("refunds_pennies", "refund_rate", "dispute_losses_pennies")
PRODUCT_CARDS = _specs("paid_orders", "aov_pennies")


@dataclass
class DashboardRange:
    """What every dashboard starts from: its form, the resolved as-of day, window
    and chart range, and the store currency every snapshot amount is in; the
    daily snapshots of the chart range when the page reads them."""

    form: DashboardForm
    params: dict
    currency: str

    @property
    def status(self) -> int:
        """400 for a day out of range or a refused range (the page shows why and
        the defaults)."""
        return 400 if bad_input(self.form) or self.form.refused else 200

    @cached_property
    def series(self) -> list:
        return selectors.snapshot_day_list(
            start=self.params["from"], end=self.params["to"]
        )

    @property
    def overlaid(self) -> bool:
        """Whether the charts overlay the comparison: when a range was picked (the
        charts then cover it) and it is compared with something."""
        return self.params["custom"] and self.params["comparison"] is not None

    @cached_property
    def comparison_name(self) -> str:
        if self.params["compare"] == COMPARE_YEAR:
            return "a year earlier"
        return "previous period"

    @cached_property
    def comparison_series(self) -> charts.Comparison | None:
        """The comparison's daily snapshots beside the range's, for the charts
        and the table (None when the charts overlay nothing)."""
        if not self.overlaid:
            return None
        params = self.params
        window, comparison = params["range"], params["comparison"]
        return charts.Comparison(
            self.comparison_name,
            selectors.comparison_day_list(
                window=window, comparison=comparison, compare=params["compare"]
            ),
        )

    @property
    def context(self) -> dict:
        params = self.params
        end = params["as_of"]
        compare = params["compare"]
        return {
            "form": self.form,
            "params": params,
            "currency": self.currency,
            "comparison": params["comparison"],
            "comparison_name": self.comparison_name.capitalize(),
            "comparison_table": self.comparison_series,
            "shortcuts": [
                {
                    "days": days,
                    "from": end - dt.timedelta(days=days - 1),
                    "to": end,
                    "compare": compare,
                    "current": params["custom"]
                    and params["range"] == Window.ending(end, days),
                }
                for days in WINDOWS
            ],
            "compare_choices": COMPARISONS,
        }


def _dashboard_range(request, *, window: bool = False) -> DashboardRange:
    form = DashboardForm(request.GET or None, window=window)
    return DashboardRange(
        form=form, params=form.resolved(), currency=selectors.store_currency()
    )


def _range_cards(page: DashboardRange, specs=CARDS) -> dict:
    """The range's KPI cards, each against the comparison."""
    summary = selectors.kpi_range_summary(
        window=page.params["range"], comparison=page.params["comparison"]
    )
    return {"range_cards": _cards(summary["kpis"], specs)}


def executive(request):
    """The three windows to the as-of day; with a range picked, its cards against
    the comparison instead, and the charts overlay the comparison."""
    page = _dashboard_range(request)
    params = page.params
    revenue = selectors.paid_order_revenue_by_day(
        start=params["from"], end=params["to"]
    )
    comparison = page.comparison_series
    if comparison is not None:
        window = params["comparison"]
        comparison.paid_order_revenue = selectors.paid_order_revenue_by_day(
            start=window.start, end=window.end
        )
    summary = (
        _range_cards(page)
        if params["custom"]
        else {
            "windows": _window_cards(selectors.kpi_window_list(as_of=params["as_of"]))
        }
    )
    return render(
        request,
        "analyticsapp/executive.html",
        {
            **page.context,
            **charts.executive_charts(page.series, revenue, page.currency, comparison),
            **summary,
            "series": page.series,
            "series_rows": _with_comparison(page.series, comparison),
            "restatements": selectors.restatement_list(as_of=params["as_of"]),
        },
        status=page.status,
    )


def _with_comparison(series: list, comparison: charts.Comparison | None) -> list:
    """The chart table's rows: each day with its comparison day (or None)."""
    rows = comparison.rows if comparison is not None else [None] * len(series)
    return [{"day": day, "then": then} for day, then in zip(series, rows, strict=True)]


def customers(request):
    page = _dashboard_range(request)
    cohorts = selectors.cohort_retention(as_of=page.params["as_of"])
    return render(
        request,
        "analyticsapp/customers.html",
        {
            **page.context,
            **_range_cards(page, CUSTOMER_CARDS),
            "mix_chart": charts.customer_mix_chart(page.series, page.comparison_series),
            "series": page.series,
            "series_rows": _with_comparison(page.series, page.comparison_series),
            "cohorts": cohorts,
            "heatmap": charts.cohort_heatmap(cohorts),
        },
        status=page.status,
    )


def products(request):
    page = _dashboard_range(request, window=True)
    params = page.params
    window = params["range"]
    sellers = selectors.best_sellers_compared(window, params["comparison"])
    return render(
        request,
        "analyticsapp/products.html",
        {
            **page.context,
            **_range_cards(page, PRODUCT_CARDS),
            "window": window,
            "sellers": sellers,
            "sellers_chart": charts.best_sellers_chart(
                sellers,
                window.days,
                page.comparison_name if page.overlaid else None,
            ),
            "cover": selectors.stock_cover(as_of=params["as_of"]),
            "demand": selectors.wishlist_demand_out_of_stock(as_of=params["as_of"]),
        },
        status=page.status,
    )


def ops_view(request):
    page = _dashboard_range(request)
    backlog = ops_backlog()
    return render(
        request,
        "analyticsapp/ops.html",
        {
            **page.context,
            **_range_cards(page, OPS_CARDS),
            "refunds_chart": charts.refunds_chart(
                page.series, page.currency, page.comparison_series
            ),
            "series": page.series,
            "series_rows": _with_comparison(page.series, page.comparison_series),
            "backlog": backlog,
            "backlog_chart": charts.backlog_chart(backlog["buckets"]),
            "exceptions": selectors.payment_exception_counts_current(),
        },
        status=page.status,
    )


def subscriptions(request):
    page = _dashboard_range(request, window=True)
    params = page.params
    window = params["range"]
    days = selectors.mrr_day_list(start=params["from"], end=params["to"])
    mrr = selectors.mrr_range_summary(window=window, comparison=params["comparison"])
    comparison = None
    if page.overlaid:
        comparison = charts.Comparison(
            page.comparison_name,
            selectors.mrr_comparison_day_list(
                window=window,
                comparison=params["comparison"],
                compare=params["compare"],
            ),
        )
    return render(
        request,
        "analyticsapp/subscriptions.html",
        {
            **page.context,
            **charts.mrr_charts(days, page.currency, comparison),
            "window": window,
            "kpis": mrr["current"],
            "mrr": mrr["kpis"],
            "mrr_rows": _with_comparison(days, comparison),
            "other_currency": selectors.other_currency_subscription_count(
                as_of=params["as_of"]
            ),
            "subscribers": selectors.subscriber_list_current(),
        },
        status=page.status,
    )


def reconciliation(request):
    """Payouts against their lines, and each business day's three columns."""
    page = _dashboard_range(request)
    params = page.params
    payouts = selectors.payout_list(start=params["from"], end=params["to"])
    days = selectors.reconciliation_days(start=params["from"], end=params["to"])
    return render(
        request,
        "analyticsapp/reconciliation.html",
        {
            **page.context,
            "payouts": payouts,
            "days": days,
            "payout_chart": charts.payouts_chart(payouts, page.currency),
            "unreconciled": [p for p in payouts if p.difference not in (0, None)],
            "unexplained": [d for d in days if d["status"] == "unexplained"],
        },
        status=page.status,
    )


def reconciliation_payout(request, payout_id):
    """One payout: the balance transactions it paid out, each with its order."""
    payout = selectors.payout_detail(payout_id)
    if payout is None:
        raise Http404("No such payout.")
    return render(
        request,
        "analyticsapp/reconciliation_payout.html",
        {
            "payout": payout,
            "lines": selectors.payout_line_list(payout_id),
            "currency": selectors.store_currency(),
        },
    )


def reconciliation_order(request, number):
    """An order behind a payout: its lines and its money at Stripe (read-only)."""
    order = selectors.order_money(number)
    if order is None:
        raise Http404("No such order.")
    return render(
        request,
        "analyticsapp/reconciliation_order.html",
        {"currency": selectors.store_currency(), **order},
    )


def definitions(request):
    text = (Path(settings.BASE_DIR) / "docs" / "kpi_definitions.md").read_text()
    return render(
        request, "analyticsapp/definitions.html", {"definitions": _render_doc(text)}
    )


# A file a merchant has no use for: `analyticsapp/kpis.py`, ARCHITECTURE.md.
SOURCE_PATH = re.compile(r"[\w-]+(?:/[\w.-]+)*\.(?:py|md|json|html|txt)\b")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`*<(\"])")


def _render_doc(text: str):
    """docs/kpi_definitions.md as readable HTML: headings, paragraphs and lists,
    with its anchors, bold, emphasis and code. Comments and every sentence that
    names a source file are left out: they are notes for developers."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if lines[0].startswith("#"):
            level = len(lines[0]) - len(lines[0].lstrip("#"))
            out.append(f"<h{level}>{_inline(lines[0][level:].strip())}</h{level}>")
            lines = lines[1:]
        if lines and lines[0].startswith("- "):
            out.append(_list(lines))
        elif lines:
            paragraph = _prose(" ".join(line.strip() for line in lines))
            if paragraph:
                out.append(f"<p>{_inline(paragraph)}</p>")
    # Safe: our own doc, every text escaped in _inline before its markup was added.
    return mark_safe("\n".join(out))


def _list(lines: list[str]) -> str:
    """A list whose items may run over several lines and hold an indented list."""
    items: list[list] = []  # [text, [sub-item texts]]
    for line in lines:
        if line.startswith("- "):
            items.append([line[2:], []])
        elif line.lstrip().startswith("- "):
            items[-1][1].append(line.lstrip()[2:])
        elif items[-1][1]:
            items[-1][1][-1] += " " + line.strip()
        else:
            items[-1][0] += " " + line.strip()

    def item(text, children=()):
        kept = [_prose(c) for c in children]
        inner = "".join(f"<li>{_inline(c)}</li>" for c in kept if c)
        return f"<li>{_inline(_prose(text))}{f'<ul>{inner}</ul>' if inner else ''}</li>"

    return "<ul>" + "".join(item(text, children) for text, children in items) + "</ul>"


def _prose(text: str) -> str:
    """The text without its sentences that name a source file."""
    return " ".join(
        sentence
        for sentence in SENTENCE_END.split(text.strip())
        if not SOURCE_PATH.search(sentence)
    )


def _inline(text: str) -> str:
    safe = html.escape(text)
    safe = re.sub(
        r"&lt;a id=&quot;([a-z_]+)&quot;&gt;&lt;/a&gt;", r'<a id="\1"></a>', safe
    )
    safe = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", safe)
    safe = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", safe)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", safe)


def exports(request):
    form = ExportForm(request.GET or None)
    return render(
        request,
        "analyticsapp/exports.html",
        {
            "form": form,
            "exports": EXPORTS.values(),
            "bi_tables": list(BI_MANIFEST),  # the pack's tables, as bi_pack writes them
            "query": request.GET.urlencode(),
        },
        status=400 if bad_input(form) else 200,
    )


def _filters(request) -> Filters:
    form = ExportForm(request.GET or None)
    if request.GET and not form.is_valid():
        raise BadRequest(" ".join(m for ms in form.errors.values() for m in ms))
    data = form.cleaned_data if request.GET else {}
    return Filters(data.get("date_from"), data.get("date_to"))


def _format(request, choices=tuple(FORMATS)):
    """`?format=` (csv, xlsx, parquet; default csv); any other is a 400."""
    try:
        return export_format(request.GET.get("format"), choices=choices)
    except UnknownFormat as exc:
        raise BadRequest(str(exc)) from exc


def export_download(request, name):
    export = EXPORTS.get(name)
    if export is None:
        raise Http404("No such export")
    fmt = _format(request)
    filters = _filters(request)
    tally: dict = {}
    user = request.user

    def stream():
        try:
            yield from export_chunks(export, filters, tally, fmt.name)
        finally:
            audit_export(
                name=name,
                filters=filters,
                tally=tally,
                actor=user,
                request=request,
                fmt=fmt.name,
            )

    response = StreamingHttpResponse(stream(), content_type=fmt.content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="purelaka-{name}.{fmt.extension}"'
    )
    response["Cache-Control"] = "no-store"
    return response


BI_PACK_MAX_DAYS = 731  # as the dashboards: a longer pack is asked for in parts


def export_bi_pack(request):
    fmt = _format(request, choices=BI_PACK_FORMATS)
    filters = _filters(request)
    if filters.date_from is not None:
        end = filters.date_to or default_as_of()
        if (end - filters.date_from).days + 1 > BI_PACK_MAX_DAYS:
            raise BadRequest(
                f"A BI pack covers at most {BI_PACK_MAX_DAYS} days: ask for the range "
                "in parts, or leave both dates empty for the whole history."
            )
    tally: dict = {}
    archive = bi_pack(filters, tally, fmt.name)
    audit_export(
        name="bi_pack",
        filters=filters,
        tally=tally,
        actor=request.user,
        request=request,
        fmt=fmt.name,
    )
    suffix = "" if fmt.name == "csv" else f"-{fmt.name}"
    filename = f"purelaka-bi-pack{suffix}.zip"
    response = FileResponse(
        archive, as_attachment=True, filename=filename, content_type="application/zip",
    )  # fmt: skip
    response["Cache-Control"] = "no-store"
    return response
