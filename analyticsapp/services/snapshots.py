"""Daily snapshots, built set-based in the database, by business-day range.

A build deletes and re-inserts the range inside one transaction (idempotent), and
logs every changed number of a day that existed before as a Restatement. Business
days follow REPORTING_TIMEZONE, daylight-saving changes included: Django's TruncDate
with a tzinfo is `AT TIME ZONE` on PostgreSQL and a zoneinfo-backed function on SQLite.
"""

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    Min,
    OuterRef,
    Sum,
    Value,
    When,
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
from payments.models import Dispute, Payment, Refund
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


def daily_money(start, end):
    """Revenue by source, refunds and dispute losses per business day."""
    money = defaultdict(lambda: defaultdict(int))
    payments = _store(Payment.objects.filter(paid_at__gte=start, paid_at__lt=end))
    for row in (
        payments.annotate(day=_day("paid_at"))
        .values("day", "source")
        .annotate(total=Sum("amount_pennies"))
        .order_by()
    ):
        money[row["day"]][SOURCE_FIELD[row["source"]]] += row["total"]
    refunds = _store(
        Refund.objects.filter(
            status=Refund.Status.SUCCEEDED,
            stripe_created__gte=start,
            stripe_created__lt=end,
        )
    )
    for day, total in _by_day(refunds, "stripe_created", Sum("amount_pennies")).items():
        money[day]["refunds_pennies"] = total
    disputes = _store(Dispute.objects.all())
    withdrawn = _by_day(
        disputes.filter(funds_withdrawn_at__gte=start, funds_withdrawn_at__lt=end),
        "funds_withdrawn_at",
        Sum("funds_withdrawn_pennies"),
    )
    reinstated = _by_day(
        disputes.filter(funds_reinstated_at__gte=start, funds_reinstated_at__lt=end),
        "funds_reinstated_at",
        Sum("funds_reinstated_pennies"),
    )
    for day in set(withdrawn) | set(reinstated):
        money[day]["dispute_losses_pennies"] = withdrawn.get(day, 0) - reinstated.get(
            day, 0
        )
    return money


def _applied_order_payments():
    return _store(
        Payment.objects.filter(applied=True, source=Payment.Source.ORDER)
    ).exclude(customer=None)


def _customer_days(start, end):
    """(day, customer) → paid orders and revenue, with lifetime counts and first day."""
    in_range = _applied_order_payments().filter(paid_at__gte=start, paid_at__lt=end)
    rows = list(
        in_range.annotate(day=_day("paid_at"))
        .values("day", "customer_id")
        .annotate(orders=Count("id"), revenue=Sum("amount_pennies"))
        .order_by("customer_id", "day")
    )
    customer_ids = {r["customer_id"] for r in rows}
    ever = _applied_order_payments().filter(customer_id__in=customer_ids)
    before = dict(
        ever.filter(paid_at__lt=start)
        .values("customer_id")
        .annotate(n=Count("id"))
        .values_list("customer_id", "n")
        .order_by()
    )
    first = dict(
        ever.annotate(day=_day("paid_at"))
        .values("customer_id")
        .annotate(first=Min("day"))
        .values_list("customer_id", "first")
        .order_by()
    )
    running = dict(before)
    for row in rows:  # aggregated rows, ordered by customer then day
        running[row["customer_id"]] = running.get(row["customer_id"], 0) + row["orders"]
        row["lifetime"] = running[row["customer_id"]]
        row["first"] = first[row["customer_id"]]
    return rows


def _product_days(start, end):
    lines = OrderLine.objects.filter(
        order__payments__applied=True,
        order__payments__source=Payment.Source.ORDER,
        order__payments__currency=settings.STORE_CURRENCY.upper(),
        order__payments__paid_at__gte=start,
        order__payments__paid_at__lt=end,
    )
    return list(
        lines.annotate(day=_day("order__payments__paid_at"))
        .values("day", "variant_id", "variant__product_id")
        .annotate(units=Sum("quantity"), revenue=Sum("line_total_pennies"))
        .order_by()
    )


def _wishlist_days(start, end):
    converted = Exists(
        OrderLine.objects.filter(
            variant__product_id=OuterRef("product_id"),
            order__customer_id=OuterRef("customer_id"),
            order__payments__applied=True,
            order__payments__paid_at__gte=OuterRef("added_at"),
            order__payments__paid_at__lte=OuterRef("added_at")
            + dt.timedelta(days=WISHLIST_CONVERSION_DAYS),
        )
    )
    return list(
        WishlistItem.objects.filter(added_at__gte=start, added_at__lt=end)
        .annotate(day=_day("added_at"), converted=converted)
        .values("day", "product_id")
        .annotate(
            adds=Count("id"),
            conversions=Sum(
                Case(When(converted=True, then=Value(1)), default=Value(0)),
                output_field=IntegerField(),
            ),
        )
        .order_by()
    )


@transaction.atomic
def snapshots_build(
    *, date_from: dt.date, date_to: dt.date, triggered_by: str, actor=None
) -> SnapshotRun:
    """Rebuild every snapshot for [date_from, date_to] (business days), in one
    transaction. Writes the snapshot rows, Restatements for changed days, a
    SnapshotRun and an audit row."""
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
    customer_rows = _customer_days(start, end)
    product_rows = _product_days(start, end)
    CustomerDailySnapshot.objects.bulk_create(
        CustomerDailySnapshot(
            day=r["day"],
            customer_id=r["customer_id"],
            paid_orders=r["orders"],
            revenue_pennies=r["revenue"],
            lifetime_paid_orders=r["lifetime"],
            first_paid_day=r["first"],
        )
        for r in customer_rows
    )
    ProductDailySnapshot.objects.bulk_create(
        ProductDailySnapshot(
            day=r["day"],
            variant_id=r["variant_id"],
            product_id=r["variant__product_id"],
            units=r["units"],
            revenue_pennies=r["revenue"],
        )
        for r in product_rows
    )
    WishlistDailySnapshot.objects.bulk_create(
        WishlistDailySnapshot(
            day=r["day"],
            product_id=r["product_id"],
            adds=r["adds"],
            converted=r["conversions"] or 0,
        )
        for r in _wishlist_days(start, end)
    )
    per_day = defaultdict(lambda: defaultdict(int))
    for r in customer_rows:
        day = per_day[r["day"]]
        day["paid_orders"] += r["orders"]
        day["customers"] += 1
        day["new_customers"] += int(r["first"] == r["day"])
    for r in product_rows:
        per_day[r["day"]]["units_sold"] += r["units"]

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
        row.returning_customers = row.customers - row.new_customers
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
    mrr_build(date_from=date_from, date_to=date_to)
    run.days_built = len(rows)
    run.restated_days = len({r.day for r in restatements})
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
    return run


def history_bounds() -> tuple[dt.date, dt.date] | None:
    """The first and last business day with anything to count (for --full)."""
    from core.timeutils import business_day

    moments = [
        Payment.objects.aggregate(m=Min("paid_at"))["m"],
        Refund.objects.aggregate(m=Min("stripe_created"))["m"],
        WishlistItem.objects.aggregate(m=Min("added_at"))["m"],
        SubscriptionChange.objects.aggregate(m=Min("at"))["m"],
    ]
    moments = [m for m in moments if m is not None]
    if not moments:
        return None
    return business_day(min(moments)), business_day(timezone.now()) - dt.timedelta(
        days=1
    )
