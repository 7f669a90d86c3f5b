"""Daily snapshots, built set-based in the database, by business-day range.

A build deletes and re-inserts the range inside one transaction (idempotent), and
logs every changed number of a day that existed before as a Restatement. Business
days follow REPORTING_TIMEZONE, daylight-saving changes included: Django's TruncDate
with a tzinfo is `AT TIME ZONE` on PostgreSQL and a zoneinfo-backed function on SQLite.
"""

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Count,
    F,
    Min,
    Q,
    Sum,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from analyticsapp.models import (
    CustomerDailySnapshot,
    DailySnapshot,
    ProductDailySnapshot,
    Restatement,
    SnapshotRun,
    WishlistDailySnapshot,
)
from analyticsapp.services.mrr import mrr_build
from audit.services import audit_record
from core.timeutils import day_bounds_utc, reporting_tz
from orders.models import OrderLine
from payments.models import BalanceTransaction, Dispute, Payment, Refund
from payments.services.settlement import (
    disputes_in_store_currency,
    fee_totals_by_day,
    payments_in_store_currency,
    refunds_in_store_currency,
)
from subscriptions.models import SubscriptionChange
from wishlist.models import WishlistItem

METRICS = [
    "order_revenue_pennies",
    "subscription_revenue_pennies",
    "other_revenue_pennies",
    "gross_revenue_pennies",
    "refunds_pennies",
    "dispute_losses_pennies",
    "net_revenue_pennies",
    "stripe_fees_pennies",
    "dispute_fees_pennies",
    "net_revenue_after_fees_pennies",
    "paid_orders",
    "units_sold",
    "customers",
    "new_customers",
    "returning_customers",
]
WISHLIST_CONVERSION_DAYS = 30
SOURCE_FIELD = {
    Payment.Source.ORDER: "order_revenue_pennies",
    Payment.Source.SUBSCRIPTION: "subscription_revenue_pennies",
    Payment.Source.OTHER: "other_revenue_pennies",
}


def _day(field):
    return TruncDate(field, tzinfo=reporting_tz())


def _by_day(queryset, field, total):
    rows = (
        queryset.annotate(day=_day(field)).values("day").annotate(total=total)
    ).order_by()
    return {r["day"]: r["total"] or 0 for r in rows}


def _store(queryset):
    return queryset.filter(currency=settings.STORE_CURRENCY.upper())


def _days(date_from, date_to):
    return [
        date_from + dt.timedelta(days=i) for i in range((date_to - date_from).days + 1)
    ]


def gross_of(money: dict) -> int:
    """A `daily_money` day's gross revenue: every source's."""
    return sum(money.get(field, 0) for field in SOURCE_FIELD.values())


def daily_money(start, end):
    """Revenue by source, refunds and dispute losses per business day, in the store
    currency: money in another currency at its settled amount once Stripe has
    settled it (`payments.services.settlement`, definitions 1.2)."""
    money = defaultdict(lambda: defaultdict(int))
    payments = payments_in_store_currency(
        Payment.objects.filter(paid_at__gte=start, paid_at__lt=end)
    )
    for row in (
        payments.annotate(day=_day("paid_at"))
        .values("day", "source")
        .annotate(total=Sum("store_pennies"))
        .order_by()
    ):
        money[row["day"]][SOURCE_FIELD[row["source"]]] += row["total"] or 0
    refunds = refunds_in_store_currency(
        Refund.objects.filter(
            status=Refund.Status.SUCCEEDED,
            stripe_created__gte=start,
            stripe_created__lt=end,
        )
    )
    for day, total in _by_day(refunds, "stripe_created", Sum("store_pennies")).items():
        money[day]["refunds_pennies"] = total or 0
    disputes = disputes_in_store_currency(Dispute.objects.all())
    withdrawn = _by_day(
        disputes.filter(funds_withdrawn_at__gte=start, funds_withdrawn_at__lt=end),
        "funds_withdrawn_at",
        Sum("withdrawn_store_pennies"),
    )
    reinstated = _by_day(
        disputes.filter(funds_reinstated_at__gte=start, funds_reinstated_at__lt=end),
        "funds_reinstated_at",
        Sum("reinstated_store_pennies"),
    )
    for day in set(withdrawn) | set(reinstated):
        money[day]["dispute_losses_pennies"] = (withdrawn.get(day) or 0) - (
            reinstated.get(day) or 0
        )
    fees = _store(
        BalanceTransaction.objects.filter(
            stripe_created__gte=start, stripe_created__lt=end
        )
    )
    for day, totals in fee_totals_by_day(fees, _day("stripe_created")).items():
        money[day]["stripe_fees_pennies"] = totals["stripe_fees"]
        money[day]["dispute_fees_pennies"] = totals["dispute_fees"]
    return money


def _moment(value):
    """A datetime bound into raw SQL as the database stores it (SQLite stores naive
    UTC text: an aware value would compare as different text)."""
    return connection.ops.adapt_datetimefield_value(value)


def _insert_from(model, queryset, columns: dict[str, str]) -> int:
    """INSERT INTO model's table the rows of a values() queryset, in the database
    (no rows travel through Python). `columns` maps queryset names to columns."""
    query = queryset.order_by().query
    names = list(query.selected)  # the SELECT's columns, in their order
    sql, params = query.sql_with_params()
    quote = connection.ops.quote_name
    targets = ", ".join(quote(columns[name]) for name in names)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(model._meta.db_table)} ({targets}) {sql}", params
        )
        return cursor.rowcount


def _applied_order(alias: str = "") -> tuple[str, tuple]:
    """The raw-SQL condition for an applied order payment in the store currency
    (what revenue per customer and per product counts), with its parameters."""
    p = f"{alias}." if alias else ""
    sql = f"{p}applied AND {p}source = %s AND {p}currency = %s"
    return sql, (Payment.Source.ORDER, settings.STORE_CURRENCY.upper())


def _insert_customer_days(start, end) -> int:
    """(day, customer) → paid orders and revenue, with the lifetime count as of that
    day and the first paid day, for every customer who paid in the range.

    One statement, whose cost follows the range, not the customers' histories: the
    range's payments grouped by day; per customer, the count before the range and
    the first payment, each read from the payments index on (customer, source,
    currency, applied, paid_at); a window function carries the running count
    through the range."""
    quote = connection.ops.quote_name
    table = quote(CustomerDailySnapshot._meta.db_table)
    payments = quote(Payment._meta.db_table)
    tz = settings.REPORTING_TIMEZONE
    day_paid, day_paid_params = connection.ops.datetime_cast_date_sql("paid_at", (), tz)
    day_first, day_first_params = connection.ops.datetime_cast_date_sql(
        "b.first_at", (), tz
    )
    start, end = _moment(start), _moment(end)
    applied, kind = _applied_order()
    applied_p, _ = _applied_order("p")
    paid = f"{applied} AND customer_id IS NOT NULL"
    mine = f"p.customer_id = c.customer_id AND {applied_p}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (day, customer_id, paid_orders, revenue_pennies, "  # noqa: S608 (names from models; values bound)
            "lifetime_paid_orders, first_paid_day) "
            "SELECT r.day, r.customer_id, r.n, r.revenue, b.n_before + SUM(r.n) "
            f"OVER (PARTITION BY r.customer_id ORDER BY r.day), {day_first} FROM ("
            f" SELECT customer_id, {day_paid} AS day, COUNT(*) AS n,"
            f" SUM(amount_pennies) AS revenue FROM {payments}"
            f" WHERE {paid} AND paid_at >= %s AND paid_at < %s GROUP BY 1, 2) r"
            " JOIN (SELECT c.customer_id,"
            f" (SELECT COUNT(*) FROM {payments} p WHERE {mine} AND p.paid_at < %s)"
            " AS n_before,"
            f" (SELECT MIN(p.paid_at) FROM {payments} p WHERE {mine}) AS first_at"
            f" FROM (SELECT DISTINCT customer_id FROM {payments}"
            f" WHERE {paid} AND paid_at >= %s AND paid_at < %s) c"
            ") b ON b.customer_id = r.customer_id",
            (
                *day_first_params,
                *day_paid_params, *kind, start, end,
                *kind, start,
                *kind,
                *kind, start, end,
            ),
        )  # fmt: skip
        return cursor.rowcount


def _insert_product_days(start, end) -> int:
    """(day, variant) → units and revenue of the lines of orders paid in the range.

    Lines join their payment on the order id directly: the orders table is not
    read (the ORM would join through it)."""
    day, day_params = connection.ops.datetime_cast_date_sql(
        "p.paid_at", (), settings.REPORTING_TIMEZONE
    )
    tables = {
        name: connection.ops.quote_name(model._meta.db_table)
        for name, model in (
            ("snapshot", ProductDailySnapshot),
            ("payment", Payment),
            ("line", OrderLine),
            ("variant", OrderLine._meta.get_field("variant").related_model),
        )
    }
    applied, kind = _applied_order("p")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {tables['snapshot']} "  # noqa: S608 (table names from models)
            "(day, variant_id, product_id, units, revenue_pennies) "
            f"SELECT {day}, l.variant_id, v.product_id, SUM(l.quantity), "
            "SUM(l.line_total_pennies) "
            f"FROM {tables['payment']} p "
            f"JOIN {tables['line']} l ON l.order_id = p.order_id "
            f"JOIN {tables['variant']} v ON v.id = l.variant_id "
            f"WHERE {applied} AND p.paid_at >= %s AND p.paid_at < %s "
            "GROUP BY 1, 2, 3",
            (*day_params, *kind, _moment(start), _moment(end)),
        )
        return cursor.rowcount


def _wishlist_days(start, end):
    """Adds per day and product, and how many the customer bought (an applied
    payment for an order with the product) within 30 days of adding."""
    adds = WishlistItem.objects.filter(added_at__gte=start, added_at__lt=end)
    # One join, evaluated once (a hashed subplan), not a lookup per add: the
    # customer's payments in the window (from the customer's index), for an order
    # that holds a line of the product.
    converted = adds.filter(
        customer__payments__source=Payment.Source.ORDER,
        customer__payments__applied=True,
        customer__payments__paid_at__gte=F("added_at"),
        customer__payments__paid_at__lte=F("added_at")
        + dt.timedelta(days=WISHLIST_CONVERSION_DAYS),
        customer__payments__order__lines__variant__product_id=F("product_id"),
    ).values("pk")
    return (
        adds.annotate(day=_day("added_at"))
        .values("day", "product_id")
        .annotate(
            adds=Count("id"),
            conversions=Count("id", filter=Q(pk__in=converted)),
        )
    )


def _per_day(date_from, date_to) -> dict:
    """The day totals that come from the rows just written."""
    per_day = defaultdict(lambda: defaultdict(int))
    for row in (
        CustomerDailySnapshot.objects.filter(day__range=(date_from, date_to))
        .values("day")
        .annotate(
            paid_orders=Sum("paid_orders"),
            paid_order_revenue_pennies=Sum("revenue_pennies"),
            customers=Count("id"),
            new_customers=Count("id", filter=Q(first_paid_day=F("day"))),
        )
        .order_by()
    ):
        per_day[row["day"]].update(row)
    for row in (
        ProductDailySnapshot.objects.filter(day__range=(date_from, date_to))
        .values("day")
        .annotate(units_sold=Sum("units"))
        .order_by()
    ):
        per_day[row["day"]]["units_sold"] = row["units_sold"]
    return per_day


@transaction.atomic
def snapshots_build(
    *,
    date_from: dt.date,
    date_to: dt.date,
    triggered_by: str,
    actor=None,
    warm: bool = True,
) -> SnapshotRun:
    """Rebuild every snapshot for [date_from, date_to] (business days), in one
    transaction. Writes the snapshot rows, Restatements for changed days, a
    SnapshotRun and an audit row. A build invalidates every cached window KPI (the
    cache is keyed by the snapshot generation), so once it commits the dashboard's
    windows are computed again (`kpis_warm`): no first visitor pays for them,
    whoever started the build (the nightly job, a manual rebuild, an import).
    `warm=False` leaves that to the caller (a series of builds warms once)."""
    if date_to < date_from:
        raise ValueError("the range ends before it starts")
    start, end = day_bounds_utc(date_from)[0], day_bounds_utc(date_to)[1]
    now = timezone.now()
    run = SnapshotRun.objects.create(
        date_from=date_from, date_to=date_to, triggered_by=triggered_by
    )
    old = {
        row["day"]: row
        for row in DailySnapshot.objects.filter(
            day__range=(date_from, date_to)
        ).values()
    }
    for model in (
        DailySnapshot,
        CustomerDailySnapshot,
        ProductDailySnapshot,
        WishlistDailySnapshot,
    ):
        model.objects.filter(day__range=(date_from, date_to)).delete()

    money = daily_money(start, end)
    _insert_customer_days(start, end)
    _insert_product_days(start, end)
    _insert_from(
        WishlistDailySnapshot,
        _wishlist_days(start, end),
        {"day": "day", "product_id": "product_id", "adds": "adds",
         "conversions": "converted"},
    )  # fmt: skip
    per_day = _per_day(date_from, date_to)

    rows = []
    for day in _days(date_from, date_to):
        values = {**money.get(day, {}), **per_day.get(day, {})}
        row = DailySnapshot(day=day, built_at=now)
        for metric in METRICS:
            setattr(row, metric, values.get(metric, 0))
        row.gross_revenue_pennies = (
            row.order_revenue_pennies
            + row.subscription_revenue_pennies
            + row.other_revenue_pennies
        )
        row.net_revenue_pennies = (
            row.gross_revenue_pennies - row.refunds_pennies - row.dispute_losses_pennies
        )
        row.net_revenue_after_fees_pennies = (
            row.net_revenue_pennies - row.stripe_fees_pennies - row.dispute_fees_pennies
        )
        row.returning_customers = row.customers - row.new_customers
        # Not a metric of its own (not restated, not exported): AOV's numerator,
        # kept here so the dashboard reads one row a day, not every customer-day.
        row.paid_order_revenue_pennies = values.get("paid_order_revenue_pennies", 0)
        rows.append(row)
    DailySnapshot.objects.bulk_create(rows)

    restatements = [
        Restatement(
            run=run,
            day=row.day,
            metric=metric,
            old_value=old[row.day][metric],
            new_value=getattr(row, metric),
        )
        for row in rows
        if row.day in old
        for metric in METRICS
        if old[row.day][metric] != getattr(row, metric)
    ]
    Restatement.objects.bulk_create(restatements)
    # MRR days restated are logged on the same run, like the daily figures.
    mrr_build(date_from=date_from, date_to=date_to, run=run)
    run.days_built = len(rows)
    run.restated_days = run.restatements.values("day").distinct().count()
    run.finished_at = timezone.now()
    run.save()
    audit_record(
        event_type="analytics.snapshots_built",
        actor=actor,
        actor_label="" if actor else triggered_by,
        target=run,
        metadata={
            "from": date_from.isoformat(),
            "to": date_to.isoformat(),
            "days": run.days_built,
            "restated_days": run.restated_days,
        },
    )
    if warm:
        transaction.on_commit(warm_dashboards)
    return run


def warm_dashboards() -> None:
    """Compute the executive dashboard's windows into the cache (after a build)."""
    from analyticsapp.kpis import kpis_warm  # the KPIs read what the builds write

    kpis_warm()


def history_bounds() -> tuple[dt.date, dt.date] | None:
    """The first and last business day with anything to count (for --full)."""
    from core.timeutils import business_day

    moments = [
        Payment.objects.aggregate(m=Min("paid_at"))["m"],
        Refund.objects.aggregate(m=Min("stripe_created"))["m"],
        BalanceTransaction.objects.aggregate(m=Min("stripe_created"))["m"],
        WishlistItem.objects.aggregate(m=Min("added_at"))["m"],
        SubscriptionChange.objects.aggregate(m=Min("at"))["m"],
    ]
    moments = [m for m in moments if m is not None]
    if not moments:
        return None
    return business_day(min(moments)), business_day(timezone.now()) - dt.timedelta(
        days=1
    )
