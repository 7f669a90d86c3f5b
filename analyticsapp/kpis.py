"""KPI windows, read from snapshots only (docs/kpi_definitions.md defines each).

A window of N days ends on `as_of` (default: yesterday, the last complete business
day) and includes it; each KPI also comes for the previous N days, with the change.
"""

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.core.cache import cache
from django.db.models import Count, Max, Sum

from analyticsapp.models import (
    CustomerDailySnapshot,
    DailySnapshot,
    ProductDailySnapshot,
    WishlistDailySnapshot,
)
from core.timeutils import today

KPI_DEFINITIONS_VERSION = "1.2"
KPI_CACHE_SECONDS = 24 * 3600
logger = logging.getLogger("analyticsapp.kpis")
WINDOWS = (7, 30, 90)
# The longest range a dashboard (or a BI pack) covers, in days, both ends included.
MAX_RANGE_DAYS = 731
# What a range is compared with: the previous period of the same length, the same
# dates a year earlier, or nothing.
COMPARE_PREVIOUS, COMPARE_YEAR, COMPARE_NONE = "previous", "year", "none"
COMPARISONS = {
    COMPARE_PREVIOUS: "Previous period",
    COMPARE_YEAR: "A year earlier",
    COMPARE_NONE: "No comparison",
}
# How many of a window's days have a built snapshot: not a KPI; a window with none
# has no data (a comparison with it says so instead of showing a change).
BUILT_DAYS = "built_days"
SUMMED = [
    "gross_revenue_pennies",
    "order_revenue_pennies",
    "subscription_revenue_pennies",
    "other_revenue_pennies",
    "refunds_pennies",
    "dispute_losses_pennies",
    "net_revenue_pennies",
    "stripe_fees_pennies",
    "dispute_fees_pennies",
    "net_revenue_after_fees_pennies",
    "paid_orders",
    "units_sold",
]


def default_as_of() -> dt.date:
    return today() - dt.timedelta(days=1)


@dataclass(frozen=True)
class Window:
    start: dt.date
    end: dt.date

    @classmethod
    def ending(cls, as_of: dt.date, days: int) -> "Window":
        return cls(as_of - dt.timedelta(days=days - 1), as_of)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Window":
        return Window.ending(self.start - dt.timedelta(days=1), self.days)

    def year_earlier(self) -> "Window":
        """The same dates a year earlier (29 February is 28 February then), so the
        window may be a day shorter or longer than this one."""
        return Window(year_earlier(self.start), year_earlier(self.end))

    def compared(self, compare: str) -> "Window | None":
        """The window this one is compared with (`COMPARISONS`); None for none."""
        if compare == COMPARE_YEAR:
            return self.year_earlier()
        if compare == COMPARE_NONE:
            return None
        return self.previous()

    def counterpart(self, day: dt.date, compare: str) -> dt.date | None:
        """The day of the comparison a day of this window is drawn against: the day
        `days` earlier, or the same date a year earlier. A 29 February has none
        when 28 February is in the window too (both would be the same day)."""
        if compare == COMPARE_PREVIOUS:
            return day - dt.timedelta(days=self.days)
        if compare != COMPARE_YEAR:
            return None
        if (day.month, day.day) == (2, 29) and day - dt.timedelta(days=1) >= self.start:
            return None
        return year_earlier(day)


def year_earlier(day: dt.date) -> dt.date:
    """The same date a year earlier; 29 February is 28 February."""
    if (day.month, day.day) == (2, 29):
        return day.replace(year=day.year - 1, day=28)
    return day.replace(year=day.year - 1)


def ratio(numerator: int, denominator: int, places: str = "0.0001") -> Decimal | None:
    """A share or ratio, rounded half up in one place; None ("not applicable":
    blank in exports, "—" on screen) when there is nothing to divide by, never 0."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(
        Decimal(places), rounding=ROUND_HALF_UP
    )


def snapshot_generation() -> str:
    """Changes whenever a snapshot build commits: how many builds have finished and
    when the latest did (not the newest id: builds may commit out of start order)."""
    from analyticsapp.models import SnapshotRun

    runs = SnapshotRun.objects.filter(finished_at__isnull=False).aggregate(
        n=Count("id"), last=Max("finished_at")
    )
    return f"{runs['n']}-{runs['last'].timestamp()}" if runs["n"] else "none"


def kpis_for(window: Window) -> dict:
    """Every window KPI of docs/kpi_definitions.md for one window.

    Cached until the next snapshot build: a window's distinct-customer counts scan
    every customer-day row in it (a 90-day window at a million orders a year is
    100,000+ rows), while its numbers change only when snapshots are rebuilt."""
    key = (
        f"kpis:{KPI_DEFINITIONS_VERSION}:{window.start}:{window.end}:"
        f"{snapshot_generation()}"
    )
    try:
        values = cache.get(key)
    except Exception:  # the cache is down: compute, as if it were empty
        logger.warning("KPI cache unreachable; computing %s", key, exc_info=True)
        return _kpis_compute(window)
    if values is None:
        values = _kpis_compute(window)
        try:
            cache.set(key, values, timeout=KPI_CACHE_SECONDS)
        except Exception:
            logger.warning("KPI cache unreachable; not kept: %s", key, exc_info=True)
    return values


def _kpis_compute(window: Window) -> dict:
    days = DailySnapshot.objects.filter(day__range=(window.start, window.end))
    sums = days.aggregate(**{f: Sum(f) for f in SUMMED}, built_days=Count("id"))
    values = {f: sums[f] or 0 for f in SUMMED}
    customer_rows = CustomerDailySnapshot.objects.filter(
        day__range=(window.start, window.end)
    )
    # AOV's numerator is the revenue of the paid orders themselves: a payment
    # raised for ops (not applied to its order) is revenue but not a paid order.
    paid_order_revenue = (
        days.aggregate(total=Sum("paid_order_revenue_pennies"))["total"] or 0
    )
    customers = customer_rows.values("customer_id").distinct().count()
    new = (
        customer_rows.filter(first_paid_day__range=(window.start, window.end))
        .values("customer_id")
        .distinct()
        .count()
    )
    # Lifetime count at the window's end = the customer's last row in the window.
    repeaters = (
        customer_rows.values("customer_id")
        .annotate(lifetime=Max("lifetime_paid_orders"))
        .filter(lifetime__gte=2)
        .count()
    )
    values.update(
        customers=customers,
        new_customers=new,
        returning_customers=customers - new,
        aov_pennies=_pennies(ratio(paid_order_revenue, values["paid_orders"], "1")),
        repeat_purchase_rate=ratio(repeaters, customers),
        refund_rate=ratio(values["refunds_pennies"], values["gross_revenue_pennies"]),
        effective_fee_rate=ratio(
            values["stripe_fees_pennies"], values["gross_revenue_pennies"]
        ),
        wishlist_conversion=_wishlist_conversion(window),
    )
    values[BUILT_DAYS] = sums["built_days"]
    return values


def _pennies(value: Decimal | None) -> int | None:
    return None if value is None else int(value)


def _wishlist_conversion(window: Window) -> Decimal | None:
    totals = WishlistDailySnapshot.objects.filter(
        day__range=(window.start, window.end)
    ).aggregate(adds=Sum("adds"), converted=Sum("converted"))
    return ratio(totals["converted"] or 0, totals["adds"] or 0)


@dataclass(frozen=True)
class KpiComparison:
    """A KPI in a window and in the window before it. None is "not applicable"
    (nothing to divide by); `prior_data` is False when no day of the previous
    window has a snapshot, so there is nothing to compare with."""

    name: str
    current: int | Decimal | None
    previous: int | Decimal | None
    prior_data: bool = True

    @property
    def comparable(self) -> bool:
        return (
            self.prior_data and self.current is not None and self.previous is not None
        )

    @property
    def change(self) -> int | Decimal | None:
        return self.current - self.previous if self.comparable else None

    @property
    def change_ratio(self) -> Decimal | None:
        if not self.comparable:
            return None
        # Against the size of the previous value: -£10 to +£5 is +150 %.
        return ratio(self.current - self.previous, abs(self.previous))


def kpi_summary(*, as_of: dt.date | None = None, days: int = 30) -> dict:
    as_of = as_of or default_as_of()
    window = Window.ending(as_of, days)
    return kpi_comparison(window, window.previous())


def kpi_comparison(window: Window, comparison: Window | None) -> dict:
    """Every window KPI for a range against its comparison (None: no comparison,
    every KPI then has no previous value and no change). Reads snapshots only: a
    fixed number of queries whatever the range's length."""
    current = kpis_for(window)
    previous = kpis_for(comparison) if comparison is not None else {}
    prior_data = bool(previous.get(BUILT_DAYS))
    return {
        "window": window,
        "previous_window": comparison,
        "prior_data": prior_data,
        "kpis": {
            name: KpiComparison(name, current[name], previous.get(name), prior_data)
            for name in current
            if name != BUILT_DAYS
        },
    }


def mrr_comparison(window: Window, comparison: Window | None) -> dict:
    """The subscription KPIs (mrr_summary) of a range as `current`, and in `kpis`
    each against its value in the comparison; `prior_data` is False when the
    comparison has no MRR snapshot (before the history) or there is none."""
    from analyticsapp.models import MrrDailySnapshot

    current = mrr_summary(window)
    previous = mrr_summary(comparison) if comparison is not None else {}
    prior_data = (
        comparison is not None
        and MrrDailySnapshot.objects.filter(
            day__range=(comparison.start, comparison.end)
        ).exists()
    )
    return {
        "current": current,
        "kpis": {
            name: KpiComparison(name, value, previous.get(name), prior_data)
            for name, value in current.items()
            if name != "prior_data"
        },
    }


def kpis_warm(*, as_of: dt.date | None = None) -> None:
    """Compute and cache the windows the executive dashboard opens on (each window
    and the one before it), so the first analyst after a build does not wait."""
    for days in WINDOWS:
        kpi_summary(as_of=as_of, days=days)


def daily_series(*, start: dt.date, end: dt.date) -> list[DailySnapshot]:
    """One row per day in the range (missing days as zeros, for charts)."""
    rows = {r.day: r for r in DailySnapshot.objects.filter(day__range=(start, end))}
    series, day = [], start
    while day <= end:
        series.append(rows.get(day) or DailySnapshot(day=day, built_at=None))
        day += dt.timedelta(days=1)
    return series


def best_sellers(window: Window, *, limit: int = 10):
    return list(
        ProductDailySnapshot.objects.filter(day__range=(window.start, window.end))
        .values("product_id", "product__name", "variant_id", "variant__sku")
        .annotate(units=Sum("units"), revenue_pennies=Sum("revenue_pennies"))
        .order_by("-units", "-revenue_pennies", "variant_id")[:limit]
    )


def stock_cover(*, as_of: dt.date | None = None, limit: int = 15):
    """On hand / average daily units sold over the 30 days to as_of; lowest first.

    Preorder variants are left out: they are sold before stock exists, so their
    cover would read 0 days of a stock nobody keeps. Each row says whether the
    variant is low on stock by the stock page's rule (`catalog.selectors.
    is_low_stock`), so the two pages never disagree.
    """
    from catalog.models import Variant
    from catalog.selectors import is_low_stock, variants_with_availability

    as_of = as_of or default_as_of()
    window = Window.ending(as_of, 30)
    sold = dict(
        ProductDailySnapshot.objects.filter(day__range=(window.start, window.end))
        .values("variant_id")
        .annotate(units=Sum("units"))
        .values_list("variant_id", "units")
        .order_by()
    )
    rows = []
    variants = variants_with_availability(
        Variant.objects.filter(pk__in=sold, product__is_preorder=False).select_related(
            "product"
        )
    )
    for variant in variants:
        per_day = Decimal(sold[variant.pk]) / 30
        cover = (Decimal(variant.stock_on_hand) / per_day).quantize(Decimal("0.1"))
        low = is_low_stock(
            available=variant.available,
            threshold=variant.product.low_stock_threshold,
            is_preorder=False,
        )
        rows.append(
            {"variant": variant, "per_day": per_day, "cover_days": cover, "low": low}
        )
    return sorted(rows, key=lambda r: r["cover_days"])[:limit]


def cohort_retention(*, as_of: dt.date | None = None, months: int = 12):
    """Customers by month of first paid order; share with a paid order k months on."""
    as_of = as_of or default_as_of()
    rows = (
        CustomerDailySnapshot.objects.filter(day__lte=as_of)
        .values("customer_id", "first_paid_day", "day")
        .order_by()
    )
    cohorts: dict[dt.date, dict[int, set]] = {}
    for row in rows:
        first = row["first_paid_day"].replace(day=1)
        k = (row["day"].year - first.year) * 12 + row["day"].month - first.month
        if 0 <= k < months:
            cohorts.setdefault(first, {}).setdefault(k, set()).add(row["customer_id"])
    table = []
    last = as_of.year * 12 + as_of.month
    for month in sorted(cohorts)[-months:]:
        size = len(cohorts[month].get(0, set()))
        first = month.year * 12 + month.month
        # A month after as_of has not happened yet: not applicable, not 0 %.
        shares = [
            ratio(len(cohorts[month].get(k, set())), size)
            if first + k <= last
            else None
            for k in range(months)
        ]
        table.append({"month": month, "size": size, "shares": shares})
    return table


def mrr_summary(window: Window) -> dict:
    """Subscription KPIs for a window (docs/kpi_definitions.md, MRR section)."""
    from analyticsapp.models import MrrDailySnapshot

    start_row = (
        MrrDailySnapshot.objects.filter(day=window.start - dt.timedelta(days=1))
        .values_list("mrr_pennies", "paying_customers")
        .first()
    )
    end_row = MrrDailySnapshot.objects.filter(day=window.end).first()
    sums = MrrDailySnapshot.objects.filter(
        day__range=(window.start, window.end)
    ).aggregate(
        new=Sum("new_pennies"),
        expansion=Sum("expansion_pennies"),
        contraction=Sum("contraction_pennies"),
        churn=Sum("churn_pennies"),
        reactivation=Sum("reactivation_pennies"),
        net_new=Sum("net_new_pennies"),
        churned_customers=Sum("churned_customers"),
    )
    sums = {k: v or 0 for k, v in sums.items()}
    mrr_start, customers_start = start_row or (0, 0)
    mrr = end_row.mrr_pennies if end_row else 0
    paying = end_row.paying_customers if end_row else 0
    arpu = _pennies(ratio(mrr, paying, "1"))
    customer_churn = ratio(sums["churned_customers"], customers_start)
    gained = sums["new"] + sums["expansion"] + sums["reactivation"]
    lost = sums["churn"] + sums["contraction"]
    return {
        "mrr_pennies": mrr,
        "mrr_start_pennies": mrr_start,
        # No snapshot for the day before the window: nothing to compare with.
        "prior_data": start_row is not None,
        "active_subscriptions": end_row.active_subscriptions if end_row else 0,
        "paying_customers": paying,
        "arpu_pennies": arpu,
        "customer_churn_rate": customer_churn,
        "gross_mrr_churn_rate": ratio(lost, mrr_start),
        "net_mrr_churn_rate": ratio(
            lost - sums["expansion"] - sums["reactivation"], mrr_start
        ),
        "ltv_pennies": int(
            (Decimal(arpu) / customer_churn).quantize(
                Decimal(1), rounding=ROUND_HALF_UP
            )
        )
        if customer_churn and arpu is not None
        else None,
        "quick_ratio": ratio(gained, lost, "0.01"),
        **{f"{k}_pennies" if k not in ("churned_customers",) else k: v
           for k, v in sums.items()},
    }  # fmt: skip
