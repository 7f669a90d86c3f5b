"""Reads the analytics dashboards need, each from the snapshots (a table that reads
live rows says "current" on its page, and its name here says so too)."""

import datetime as dt

from django.db.models import Count, Sum

from analyticsapp.kpis import (
    WINDOWS,
    Window,
    best_sellers,
    cohort_retention,
    daily_series,
    kpi_comparison,
    kpi_summary,
    mrr_comparison,
    mrr_summary,
    stock_cover,
)
from analyticsapp.models import (
    DailySnapshot,
    MrrDailySnapshot,
    ProductDailySnapshot,
    Restatement,
    WishlistDailySnapshot,
)
from catalog.selectors import products_for_storefront
from core.money import store_currency
from payments.models import PaymentException
from subscriptions.models import Subscription

__all__ = [
    "best_sellers",
    "best_sellers_compared",
    "cohort_retention",
    "comparison_day_list",
    "kpi_range_summary",
    "kpi_window_list",
    "mrr_comparison_day_list",
    "mrr_day_list",
    "mrr_range_summary",
    "mrr_summary",
    "other_currency_subscription_count",
    "paid_order_revenue_by_day",
    "payment_exception_counts_current",
    "restatement_list",
    "snapshot_day_list",
    "stock_cover",
    "store_currency",
    "subscriber_list_current",
    "wishlist_demand_out_of_stock",
]


def snapshot_day_list(*, start: dt.date, end: dt.date) -> list[DailySnapshot]:
    """One daily snapshot per day of the range; a day not built is an unsaved row
    of zeros whose `built_at` is None."""
    return daily_series(start=start, end=end)


def paid_order_revenue_by_day(*, start: dt.date, end: dt.date) -> dict[dt.date, int]:
    """The revenue of each day's paid orders (AOV's numerator), by day: one
    snapshot row a day (the sum of its customer rows, made by the build)."""
    return dict(
        DailySnapshot.objects.filter(day__range=(start, end)).values_list(
            "day", "paid_order_revenue_pennies"
        )
    )


def kpi_window_list(*, as_of: dt.date) -> list[dict]:
    """The 7, 30 and 90-day KPI summaries ending on as_of, each with the window
    before it."""
    return [{"days": days, **kpi_summary(as_of=as_of, days=days)} for days in WINDOWS]


def kpi_range_summary(*, window: Window, comparison: Window | None) -> dict:
    """Every window KPI for a range against its comparison (or none)."""
    return kpi_comparison(window, comparison)


def mrr_range_summary(*, window: Window, comparison: Window | None) -> dict:
    """The subscription KPIs of a range, each against the comparison's."""
    return mrr_comparison(window, comparison)


def _aligned(rows: dict, window: Window, compare: str, blank) -> list:
    """For each day of the window, the comparison's row of its counterpart day
    (Window.counterpart): a day not built is `blank(day)`, a day without a
    counterpart None."""
    aligned = []
    for i in range(window.days):
        day = window.counterpart(window.start + dt.timedelta(days=i), compare)
        aligned.append(None if day is None else rows.get(day) or blank(day))
    return aligned


def comparison_day_list(
    *, window: Window, comparison: Window, compare: str
) -> list[DailySnapshot | None]:
    """The comparison's daily snapshots, one per day of the range, in the range's
    order (one query, whatever the range's length)."""
    rows = {
        r.day: r
        for r in DailySnapshot.objects.filter(
            day__range=(comparison.start, comparison.end)
        )
    }
    return _aligned(
        rows, window, compare, lambda day: DailySnapshot(day=day, built_at=None)
    )


def mrr_comparison_day_list(
    *, window: Window, comparison: Window, compare: str
) -> list[MrrDailySnapshot | None]:
    """The comparison's MRR snapshots, one per day of the range, in its order."""
    rows = {
        r.day: r
        for r in MrrDailySnapshot.objects.filter(
            day__range=(comparison.start, comparison.end)
        )
    }
    return _aligned(rows, window, compare, lambda day: MrrDailySnapshot(day=day))


def best_sellers_compared(window: Window, comparison: Window | None) -> list[dict]:
    """The range's best sellers, each with `units_then` and `revenue_then_pennies`
    (the same variant in the comparison; 0 when it did not sell then)."""
    sellers = best_sellers(window)
    if comparison is None or not sellers:
        return sellers
    then = {
        row["variant_id"]: row
        for row in ProductDailySnapshot.objects.filter(
            day__range=(comparison.start, comparison.end),
            variant_id__in=[s["variant_id"] for s in sellers],
        )
        .values("variant_id")
        .annotate(units=Sum("units"), revenue_pennies=Sum("revenue_pennies"))
        .order_by()
    }
    for seller in sellers:
        row = then.get(seller["variant_id"], {})
        seller["units_then"] = row.get("units") or 0
        seller["revenue_then_pennies"] = row.get("revenue_pennies") or 0
    return sellers


def restatement_list(*, as_of: dt.date, limit: int = 20) -> list[Restatement]:
    """The newest restatements of days up to as_of."""
    return list(
        Restatement.objects.filter(day__lte=as_of).select_related("run")[:limit]
    )


def wishlist_demand_out_of_stock(*, as_of: dt.date, limit: int = 15) -> list[dict]:
    """Wishlist adds in the 30 days to as_of for products out of stock now."""
    out_of_stock = products_for_storefront().filter(
        available__lte=0, is_preorder=False, billing_interval=""
    )
    window = Window.ending(as_of, 30)
    return list(
        WishlistDailySnapshot.objects.filter(
            product_id__in=out_of_stock.values("pk"),
            day__range=(window.start, window.end),
        )
        .values("product_id", "product__name")
        .annotate(adds=Sum("adds"))
        .order_by("-adds", "product_id")[:limit]
    )


def payment_exception_counts_current() -> list[dict]:
    """Open payment exceptions now, by kind, with the kind's label."""
    rows = (
        PaymentException.objects.filter(resolved_at__isnull=True)
        .values("kind")
        .annotate(n=Count("id"))
        .order_by("kind")
    )
    return [
        {"label": PaymentException.Kind(r["kind"]).label, "n": r["n"]} for r in rows
    ]


def mrr_day_list(*, start: dt.date, end: dt.date) -> list[MrrDailySnapshot]:
    """One MRR snapshot per day of the range; a day not built is an unsaved row
    of zeros."""
    rows = {r.day: r for r in MrrDailySnapshot.objects.filter(day__range=(start, end))}
    days = (end - start).days + 1
    return [
        rows.get(day) or MrrDailySnapshot(day=day)
        for day in (start + dt.timedelta(days=i) for i in range(days))
    ]


def other_currency_subscription_count(*, as_of: dt.date) -> int:
    """Subscriptions active or past due in another currency at as_of's end: in no
    MRR figure (definitions), counted apart."""
    return (
        MrrDailySnapshot.objects.filter(day=as_of)
        .values_list("other_currency_subscriptions", flat=True)
        .first()
        or 0
    )


def subscriber_list_current(*, limit: int = 50):
    """Subscriptions active or past due now (live rows, not as of a day: the page
    says "current"), largest MRR first."""
    return (
        Subscription.objects.filter(status__in=["active", "past_due"])
        .select_related("customer", "variant__product")
        .order_by("-mrr_pennies", "pk")[:limit]
    )


# -- reconciliation (live ledger rows: the page says "current") ---------------------


def payout_list(*, start: dt.date, end: dt.date) -> list:
    """Payouts made on business days start..end, each with `difference` (amount −
    Σ net of its lines; None before Stripe lists them)."""
    from core.timeutils import day_bounds_utc
    from payments.services.settlement import payout_difference, payouts_reconciled

    rows = list(
        payouts_reconciled().filter(
            stripe_created__gte=day_bounds_utc(start)[0],
            stripe_created__lt=day_bounds_utc(end)[1],
        )
    )
    for row in rows:
        row.difference = payout_difference(row)
    return rows


def payout_detail(payout_id: str):
    from payments.services.settlement import payout_difference, payouts_reconciled

    payout = payouts_reconciled().filter(stripe_payout_id=payout_id).first()
    if payout is not None:
        payout.difference = payout_difference(payout)
    return payout


def payout_line_list(payout_id: str) -> list:
    from payments.services.settlement import (
        balance_transactions_enriched,
        payout_lines,
    )

    return list(
        balance_transactions_enriched(payout_lines(payout_id)).order_by(
            "stripe_created", "stripe_id"
        )
    )


def reconciliation_days(*, start: dt.date, end: dt.date) -> list[dict]:
    from analyticsapp.reconciliation import days_reconciled, reasons_text

    rows = days_reconciled(start, end)
    for row in rows:
        row["reasons_text"] = reasons_text(row)
    return rows


def order_money(number: str) -> dict | None:
    """An order's lines, payments and their balance transactions (read-only)."""
    from orders.models import Order
    from payments.models import Payment
    from payments.services.settlement import balance_transactions_enriched

    order = Order.objects.filter(number=number).first()
    if order is None:
        return None
    charges = list(
        Payment.objects.filter(order=order)
        .exclude(stripe_charge_id=None)
        .values_list("stripe_charge_id", flat=True)
    )
    return {
        "order": order,
        "lines": list(order.lines.order_by("pk")),
        "payments": list(Payment.objects.filter(order=order).order_by("paid_at")),
        "balance_transactions": list(
            balance_transactions_enriched()
            .filter(charge_id__in=charges)
            .order_by("stripe_created", "stripe_id")
        ),
    }
