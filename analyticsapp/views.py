"""Dashboards (snapshots only) and exports."""

import datetime as dt
import html
import re
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Sum
from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe

from analyticsapp import charts
from analyticsapp.exports import (
    EXPORTS,
    Filters,
    audit_export,
    bi_pack,
    csv_chunks,
)
from analyticsapp.forms import DashboardForm, ExportForm
from analyticsapp.kpis import (
    WINDOWS,
    Window,
    best_sellers,
    cohort_retention,
    daily_series,
    kpi_summary,
    stock_cover,
)
from analyticsapp.models import Restatement, WishlistDailySnapshot
from catalog.selectors import products_for_storefront
from orders.selectors import ops_backlog
from payments.models import PaymentException

CARDS = [
    ("gross_revenue_pennies", "Gross revenue", "gross_revenue", True),
    ("net_revenue_pennies", "Net revenue", "net_revenue", True),
    ("refunds_pennies", "Refunds", "refunds", True),
    ("dispute_losses_pennies", "Dispute losses", "dispute_losses", True),
    ("paid_orders", "Paid orders", "paid_orders", False),
    ("aov_pennies", "Average order value", "aov", True),
    ("customers", "Customers", "customers", False),
    ("new_customers", "New customers", "new_customers", False),
    ("repeat_purchase_rate", "Repeat purchase rate", "repeat_purchase_rate", False),
    ("refund_rate", "Refund rate", "refund_rate", False),
]


LOWER_IS_BETTER = {"refunds_pennies", "dispute_losses_pennies", "refund_rate"}


def _window_cards(as_of):
    windows = []
    for days in WINDOWS:
        summary = kpi_summary(as_of=as_of, days=days)
        windows.append(
            {
                "days": days,
                "window": summary["window"],
                "previous": summary["previous_window"],
                "cards": [
                    {
                        "key": key,
                        "label": label,
                        "anchor": anchor,
                        "money": money,
                        "kpi": summary["kpis"][key],
                        "share": key.endswith("_rate"),
                        # A fall is good news for these.
                        "lower_is_better": key in LOWER_IS_BETTER,
                    }
                    for key, label, anchor, money in CARDS
                ],
            }
        )
    return windows


def _form(request, *, window=False) -> DashboardForm:
    """The range form; the window choice only where a page has one window."""
    form = DashboardForm(request.GET or None)
    if not window:
        del form.fields["days"]
    return form


def executive(request):
    form = _form(request)
    params = form.resolved()
    series = daily_series(start=params["from"], end=params["to"])
    labels = [d.day.strftime("%d %b") for d in series]
    money = charts.line_chart(
        "Daily gross, net and refunds",
        labels,
        [
            charts.Series("Gross", [d.gross_revenue_pennies for d in series]),
            charts.Series("Net", [d.net_revenue_pennies for d in series]),
            charts.Series("Refunds", [d.refunds_pennies for d in series]),
        ],
    )
    orders = charts.stacked_bars(
        "Paid orders per day",
        labels,
        [charts.Series("Paid orders", [d.paid_orders for d in series], money=False)],
    )
    aov = charts.line_chart(
        "Average order value per day",
        labels,
        [
            charts.Series(
                "AOV",
                [
                    round(d.order_revenue_pennies / d.paid_orders)
                    if d.paid_orders
                    else 0
                    for d in series
                ],
            )
        ],
    )
    return render(
        request,
        "analyticsapp/executive.html",
        {
            "form": form,
            "params": params,
            "windows": _window_cards(params["as_of"]),
            "money_chart": money,
            "orders_chart": orders,
            "aov_chart": aov,
            "series": series,
            "restatements": Restatement.objects.select_related("run")[:20],
        },
    )


def customers(request):
    form = _form(request)
    params = form.resolved()
    series = daily_series(start=params["from"], end=params["to"])
    labels = [d.day.strftime("%d %b") for d in series]
    mix = charts.stacked_bars(
        "New and returning customers per day",
        labels,
        [
            charts.Series("New", [d.new_customers for d in series], money=False),
            charts.Series(
                "Returning", [d.returning_customers for d in series], money=False
            ),
        ],
    )
    cohorts = cohort_retention(as_of=params["as_of"])
    cell = 34
    heatmap = {
        "width": 120 + cell * 12,
        "height": 24 + cell * max(len(cohorts), 1),
        "months": [{"x": 120 + cell * k + cell / 2, "k": k} for k in range(12)],
        "rows": [
            {
                "y": 24 + cell * i,
                "label_y": 24 + cell * i + cell / 2 + 4,
                "label": f"{row['month']:%b %Y} ({row['size']})",
                "cells": [
                    {
                        "x": 120 + cell * k,
                        "fill": charts.heat(share),
                        "tip": f"{row['month']:%b %Y}, month {k}: {share:.0%}",
                        "text": f"{share:.0%}" if share else "",
                    }
                    for k, share in enumerate(row["shares"])
                ],
            }
            for i, row in enumerate(cohorts)
        ],
        "cell": cell,
    }
    return render(
        request,
        "analyticsapp/customers.html",
        {
            "form": form,
            "params": params,
            "mix_chart": mix,
            "series": series,
            "cohorts": cohorts,
            "heatmap": heatmap,
        },
    )


def products(request):
    form = _form(request, window=True)
    params = form.resolved()
    window = Window.ending(params["as_of"], params["days"])
    sellers = best_sellers(window)
    chart = charts.stacked_bars(
        f"Best sellers, {params['days']} days (units)",
        [s["variant__sku"] for s in sellers],
        [charts.Series("Units", [s["units"] for s in sellers], money=False)],
    )
    out_of_stock = {
        p.pk: p
        for p in products_for_storefront().filter(
            available__lte=0, is_preorder=False, billing_interval=""
        )
    }
    demand = (
        WishlistDailySnapshot.objects.filter(
            product_id__in=out_of_stock,
            day__range=(params["as_of"] - dt.timedelta(days=29), params["as_of"]),
        )
        .values("product_id", "product__name")
        .annotate(adds=Sum("adds"))
        .order_by("-adds")[:15]
    )
    return render(
        request,
        "analyticsapp/products.html",
        {
            "form": form,
            "params": params,
            "window": window,
            "sellers": sellers,
            "sellers_chart": chart,
            "cover": stock_cover(as_of=params["as_of"]),
            "demand": demand,
        },
    )


def ops_view(request):
    form = _form(request)
    params = form.resolved()
    series = daily_series(start=params["from"], end=params["to"])
    labels = [d.day.strftime("%d %b") for d in series]
    refunds = charts.stacked_bars(
        "Refunds per day",
        labels,
        [charts.Series("Refunds", [d.refunds_pennies for d in series])],
    )
    backlog = ops_backlog()
    backlog_chart = charts.stacked_bars(
        "Paid, not fulfilled, by age",
        [label for label, _ in backlog["buckets"]],
        [charts.Series("Orders", [n for _, n in backlog["buckets"]], money=False)],
    )
    exceptions = (
        PaymentException.objects.filter(resolved_at__isnull=True)
        .values("kind")
        .annotate(n=Count("id"))
        .order_by("kind")
    )
    return render(
        request,
        "analyticsapp/ops.html",
        {"form": form, "params": params, "refunds_chart": refunds, "series": series,
         "backlog": backlog, "backlog_chart": backlog_chart,
         "exceptions": [
             {"label": PaymentException.Kind(e["kind"]).label, "n": e["n"]}
             for e in exceptions
         ]},
    )  # fmt: skip


def definitions(request):
    text = (Path(settings.BASE_DIR) / "docs" / "kpi_definitions.md").read_text()
    return render(
        request, "analyticsapp/definitions.html", {"definitions": _render_doc(text)}
    )


def _render_doc(text: str):
    """docs/kpi_definitions.md as HTML: escaped, with its anchors, bold and lists."""
    out, in_list = [], False
    for line in text.splitlines():
        safe = html.escape(line)
        safe = re.sub(
            r"&lt;a id=&quot;([a-z_]+)&quot;&gt;&lt;/a&gt;", r'<a id="\1"></a>', safe
        )
        safe = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", safe)
        safe = re.sub(r"`([^`]+)`", r"<code>\1</code>", safe)
        if safe.startswith("- "):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{safe[2:]}</li>")
            continue
        if in_list and not line.startswith("  "):
            out.append("</ul>")
            in_list = False
        if safe.startswith("# "):
            out.append(f"<h1>{safe[2:]}</h1>")
        elif safe.startswith("## "):
            out.append(f"<h2>{safe[3:]}</h2>")
        elif safe.strip() and in_list:
            out[-1] = out[-1][:-5] + " " + safe.strip() + "</li>"
        elif safe.strip():
            out.append(f"<p>{safe}</p>")
    if in_list:
        out.append("</ul>")
    # Safe: our own doc, every line escaped above before its markup was added.
    return mark_safe("\n".join(out))


def exports(request):
    form = ExportForm(request.GET or None)
    return render(
        request,
        "analyticsapp/exports.html",
        {"form": form, "exports": EXPORTS.values(), "query": request.GET.urlencode()},
    )


def _filters(request) -> Filters:
    form = ExportForm(request.GET or None)
    if request.GET and not form.is_valid():
        raise Http404("Bad date range")
    data = form.cleaned_data if request.GET else {}
    return Filters(data.get("date_from"), data.get("date_to"))


def export_download(request, name):
    export = EXPORTS.get(name)
    if export is None:
        raise Http404("No such export")
    filters = _filters(request)
    tally: dict = {}
    user = request.user

    def stream():
        try:
            yield from csv_chunks(export, filters, tally)
        finally:
            audit_export(name=name, filters=filters, tally=tally, actor=user)

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="purelaka-{name}.csv"'
    response["Cache-Control"] = "no-store"
    return response


def export_bi_pack(request):
    filters = _filters(request)
    tally: dict = {}
    archive = bi_pack(filters, tally)
    audit_export(name="bi_pack", filters=filters, tally=tally, actor=request.user)
    response = FileResponse(
        archive, as_attachment=True, filename="purelaka-bi-pack.zip",
        content_type="application/zip",
    )  # fmt: skip
    response["Cache-Control"] = "no-store"
    return response


def subscriptions(request):
    from analyticsapp.kpis import mrr_summary
    from analyticsapp.models import MrrDailySnapshot
    from subscriptions.models import Subscription

    form = _form(request, window=True)
    params = form.resolved()
    rows = {
        r.day: r
        for r in MrrDailySnapshot.objects.filter(
            day__range=(params["from"], params["to"])
        )
    }
    days = [d.day for d in daily_series(start=params["from"], end=params["to"])]
    labels = [d.strftime("%d %b") for d in days]

    def values(field):
        return [getattr(rows[d], field) if d in rows else 0 for d in days]

    mrr_chart = charts.line_chart(
        "MRR at the end of each day",
        labels,
        [charts.Series("MRR", values("mrr_pennies"))],
    )
    gains = charts.stacked_bars(
        "MRR gained per day",
        labels,
        [
            charts.Series("New", values("new_pennies")),
            charts.Series("Expansion", values("expansion_pennies")),
            charts.Series("Reactivation", values("reactivation_pennies")),
        ],
    )
    losses = charts.stacked_bars(
        "MRR lost per day",
        labels,
        [
            charts.Series(
                "Contraction", values("contraction_pennies"), color="#c2571a"
            ),
            charts.Series("Churn", values("churn_pennies"), color="#b42318"),
        ],
    )
    window = Window.ending(params["as_of"], params["days"])
    return render(
        request,
        "analyticsapp/subscriptions.html",
        {
            "form": form,
            "params": params,
            "window": window,
            "kpis": mrr_summary(window),
            "mrr_chart": mrr_chart,
            "gains_chart": gains,
            "losses_chart": losses,
            "subscribers": Subscription.objects.filter(
                status__in=["active", "past_due"]
            )
            .select_related("customer")
            .order_by("-mrr_pennies")[:50],
        },
    )
