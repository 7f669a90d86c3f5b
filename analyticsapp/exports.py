"""Exports: stable, typed columns (docs/contracts/kpi_contract.json), streamed with
constant memory as CSV (neutralised against formula injection) or, through
analyticsapp/export_formats.py, as xlsx or Parquet; every download audited with its
format, row count and the SHA-256 of the bytes sent."""

import csv
import datetime as dt
import hashlib
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import models
from django.db.models import Case, Count, F, Sum, Value, When
from django.db.models.functions import (
    ExtractMonth,
    ExtractYear,
    TruncMonth,
)

from accounts.models import User
from analyticsapp import kpis
from analyticsapp.export_formats import (
    BOOLEAN,
    DATE,
    INTEGER,
    KPI_VALUE,
    MONEY,
    STRING,
    column_types,
    copy_file,
    decimal,
    export_format,
    file_chunks,
    parquet_columns,
)
from analyticsapp.formulas import (
    FORMULA,
    NUMBER,
    neutralise,
)
from analyticsapp.kpis import KPI_DEFINITIONS_VERSION, WINDOWS, Window, kpis_for
from analyticsapp.models import (
    CustomerDailySnapshot,
    DailySnapshot,
    MrrDailySnapshot,
    ProductDailySnapshot,
    Restatement,
    WishlistDailySnapshot,
)
from audit.services import audit_record
from catalog.models import Variant
from core.replica import read_connection
from core.timeutils import day_bounds_utc
from orders.models import Order, OrderLine
from payments.models import Dispute, Payment, PaymentException, Refund
from payments.services.settlement import (
    balance_transactions_enriched,
    payouts_reconciled,
)
from subscriptions.models import Subscription, SubscriptionChange

CHUNK = 2000
COPY_BLOCK = 256 * 1024


@dataclass(frozen=True)
class Filters:
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def utc_range(self):
        start = day_bounds_utc(self.date_from)[0] if self.date_from else None
        end = day_bounds_utc(self.date_to)[1] if self.date_to else None
        return start, end

    def as_dict(self) -> dict:
        return {
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
        }


def _between(queryset, field, filters: Filters):
    start, end = filters.utc_range()
    if start:
        queryset = queryset.filter(**{f"{field}__gte": start})
    if end:
        queryset = queryset.filter(**{f"{field}__lt": end})
    return queryset


def _rows(queryset, fields) -> Iterator[tuple]:
    return queryset.values_list(*fields).iterator(chunk_size=CHUNK)


@dataclass(frozen=True)
class QueryRows:
    """An export's rows as a queryset and its fields: streamed by PostgreSQL's COPY
    where the database is PostgreSQL, row by row through Python elsewhere, with the
    same bytes either way."""

    build: Callable[[Filters], models.QuerySet]
    fields: list[str]

    def __call__(self, filters: Filters) -> Iterator[tuple]:
        return _rows(self.build(filters), self.fields)

    def output_fields(self, queryset=None) -> list:
        """The model field (or annotation's output field) of each column."""
        if queryset is None:
            queryset = self.build(Filters()).values_list(*self.fields)
        annotations = queryset.query.annotations
        return [
            annotations[path].output_field
            if path in annotations
            else _field(queryset.model, path)
            for path in self.fields
        ]

    def copy_sql(self, filters: Filters) -> tuple[str, tuple]:
        """One SELECT whose text cells are already what `neutralise` makes."""
        queryset = self.build(filters).values_list(*self.fields)
        inner, params = queryset.query.sql_with_params()
        cells = [
            _sql_cell(f"t.c{i}", field)
            for i, field in enumerate(self.output_fields(queryset))
        ]
        names = ", ".join(f"c{i}" for i in range(len(self.fields)))
        sql = f"SELECT {', '.join(cells)} FROM ({inner}) AS t({names})"  # noqa: S608
        return sql, params


def _field(model, path: str):
    *hops, name = path.split("__")
    for hop in hops:
        model = model._meta.get_field(hop).related_model
    field = model._meta.get_field(name)
    while field.is_relation:  # customer_id: the column is the key it points at
        field = field.target_field
    return field


_ISO_UTC = """'YYYY-MM-DD"T"HH24:MI:SS'"""
_DANGEROUS_SQL = f"'{FORMULA}'"  # the same pattern (no quote in it to escape)


def _sql_cell(column: str, field) -> str:
    """`neutralise` in SQL: NULL and '' both come out as an empty, unquoted cell."""
    if isinstance(field, models.DateTimeField):
        utc = f"({column} AT TIME ZONE 'UTC')"
        cell = (
            f"to_char({utc}, {_ISO_UTC}) || CASE WHEN "
            f"mod(EXTRACT(MICROSECONDS FROM {utc})::bigint, 1000000) = 0 THEN '' "
            f"ELSE to_char({utc}, '.US') END || 'Z'"
        )
    elif isinstance(field, models.BooleanField):
        cell = f"CASE WHEN {column} THEN 'True' ELSE 'False' END"
    elif isinstance(field, models.DateField):
        cell = f"to_char({column}, 'YYYY-MM-DD')"  # whatever the server's DateStyle
    elif isinstance(field, models.IntegerField | models.AutoField):
        cell = f"{column}::text"
    elif isinstance(field, models.DecimalField):
        cell = f"{column}::text"  # numeric keeps its scale, as Python's Decimal does
    elif isinstance(field, models.CharField | models.TextField):
        cell = (
            f"CASE WHEN {column} ~ {_DANGEROUS_SQL} AND {column} !~ '{NUMBER}' "
            f"THEN '''' || {column} ELSE {column} END"
        )
    else:  # a new field type must be given its formatting first
        raise TypeError(f"no CSV formatting for {type(field).__name__}")
    return f"NULLIF({cell}, '')"


@dataclass(frozen=True)
class Export:
    """`as_of`: the export is a state on one day (`--to`, default yesterday); a
    `--from` does not apply to it and is dropped before it runs and is audited.
    `types`: each column's type (export_formats), declared by an export whose rows
    are not a queryset's; a queryset export's are read from its model fields."""

    name: str
    title: str
    columns: list[str]
    rows: Callable[[Filters], Iterator]
    personal_data: bool = False
    as_of: bool = False
    types: tuple[str, ...] = ()

    def applied(self, filters: Filters) -> Filters:
        return Filters(None, filters.date_to) if self.as_of else filters


_orders = QueryRows(
    lambda f: _between(Order.objects.order_by("pk"), "created_at", f),
    ["number", "created_at", "status", "refund_status", "customer_id", "email",
     "currency", "subtotal_pennies", "shipping_pennies", "total_pennies",
     "refunded_pennies", "paid_at", "fulfilled_at", "canceled_at",
     "shipping_city", "shipping_postcode", "shipping_country"],
)  # fmt: skip

_order_lines = QueryRows(
    lambda f: _between(OrderLine.objects.order_by("pk"), "order__created_at", f),
    ["order__number", "order__created_at", "order__status", "sku",
     "variant__product_id", "variant_id", "product_name", "variant_label",
     "unit_price_pennies", "quantity", "line_total_pennies", "is_preorder"],
)  # fmt: skip

_payments = QueryRows(
    lambda f: _between(Payment.objects.order_by("paid_at", "pk"), "paid_at", f),
    ["stripe_payment_intent", "stripe_charge_id", "stripe_invoice_id", "paid_at",
     "source", "order__number", "customer_id", "amount_pennies", "currency",
     "applied", "problem"],
)  # fmt: skip

_refunds = QueryRows(
    lambda f: _between(
        Refund.objects.order_by("stripe_created", "pk"), "stripe_created", f
    ),
    ["stripe_refund_id", "stripe_created", "status", "amount_pennies", "currency",
     "reason", "payment__stripe_payment_intent", "payment__order__number"],
)  # fmt: skip

_disputes = QueryRows(
    lambda f: _between(
        Dispute.objects.order_by("stripe_created", "pk"), "stripe_created", f
    ),
    ["stripe_dispute_id", "stripe_created", "status", "reason", "amount_pennies",
     "currency", "funds_withdrawn_pennies", "funds_withdrawn_at",
     "funds_reinstated_pennies", "funds_reinstated_at", "payment__order__number"],
)  # fmt: skip

_balance_transactions = QueryRows(
    lambda f: _between(
        balance_transactions_enriched().order_by("stripe_created", "stripe_id"),
        "stripe_created",
        f,
    ),
    ["stripe_id", "stripe_created", "type", "reporting_category", "amount_pennies",
     "fee_pennies", "net_pennies", "currency", "exchange_rate", "status",
     "available_on", "payout_stripe_id", "payment_intent", "charge_id", "refund_id",
     "dispute_id", "order_number"],
)  # fmt: skip

_payouts = QueryRows(
    lambda f: _between(
        payouts_reconciled().order_by("stripe_created", "stripe_payout_id"),
        "stripe_created",
        f,
    ).annotate(
        difference_pennies=Case(
            When(lines_fetched_at__isnull=True, then=Value(None)),
            default=F("amount_pennies") - F("lines_net_pennies"),
            output_field=models.BigIntegerField(),
        )
    ),
    ["stripe_payout_id", "stripe_created", "arrival_date", "status", "amount_pennies",
     "currency", "lines", "lines_net_pennies", "difference_pennies", "failure_code",
     "reconciliation_status", "automatic"],
)  # fmt: skip


def _reconciliation(f):
    """Per business day (default: the 31 days to yesterday), DAY_COLUMNS."""
    from analyticsapp.reconciliation import DAY_COLUMNS, days_reconciled, reasons_text

    date_to = f.date_to or kpis.default_as_of()
    date_from = f.date_from or date_to - dt.timedelta(days=30)
    for row in days_reconciled(date_from, date_to):
        row["reasons"] = reasons_text(row)
        yield tuple(row[c] for c in DAY_COLUMNS)


_customers = QueryRows(
    lambda f: _between(
        User.objects.filter(groups__name="customer").order_by("pk"), "date_joined", f
    ),
    ["id", "email", "full_name", "date_joined", "is_active"],
)  # fmt: skip

_products = QueryRows(
    lambda f: Variant.objects.order_by("pk"),
    ["product_id", "product__name", "product__category__name", "id", "sku",
     "price_override_pennies", "product__price_pennies", "product__currency",
     "stock_on_hand", "product__is_preorder", "product__active", "active"],
)  # fmt: skip

DAILY_COLUMNS = [
    "day", "gross_revenue_pennies", "order_revenue_pennies",
    "subscription_revenue_pennies", "other_revenue_pennies", "refunds_pennies",
    "dispute_losses_pennies", "net_revenue_pennies", "paid_orders", "units_sold",
    "customers", "new_customers", "returning_customers", "stripe_fees_pennies",
    "dispute_fees_pennies", "net_revenue_after_fees_pennies",
]  # fmt: skip


def _days_between(queryset, f):
    if f.date_from:
        queryset = queryset.filter(day__gte=f.date_from)
    if f.date_to:
        queryset = queryset.filter(day__lte=f.date_to)
    return queryset


def _daily_snapshots(f):
    # paid_order_revenue_pennies: AOV's numerator, the revenue of the day's paid
    # orders themselves (the build sums the day's customer rows into it).
    return _days_between(DailySnapshot.objects.order_by("day"), f)


_daily_kpis = QueryRows(
    _daily_snapshots, [*DAILY_COLUMNS, "paid_order_revenue_pennies"]
)

_subscriptions = QueryRows(
    lambda f: _between(
        Subscription.objects.order_by("started_at", "pk"), "started_at", f
    ),
    ["stripe_subscription_id", "customer_id", "stripe_customer_id", "status",
     "currency", "mrr_pennies", "started_at", "current_period_end",
     "cancel_at_period_end", "canceled_at", "ended_at"],
)  # fmt: skip

# Every applied subscription change, in Stripe time order: what MRR and its
# movements are computed from. ended_at is the subscription's (churn is dated by it).
_subscription_changes = QueryRows(
    lambda f: _between(
        SubscriptionChange.objects.order_by("at", "stripe_event_id"), "at", f
    ),
    ["stripe_event_id", "subscription__stripe_subscription_id",
     "subscription__customer_id", "subscription__stripe_customer_id", "event_type",
     "at", "status", "mrr_pennies", "subscription__currency", "cancel_at_period_end",
     "subscription__ended_at"],
)  # fmt: skip

_mrr_movements = QueryRows(
    lambda f: _days_between(MrrDailySnapshot.objects.order_by("day"), f),
    ["day", "mrr_pennies", "active_subscriptions", "paying_customers",
     "new_pennies", "expansion_pennies", "contraction_pennies", "churn_pennies",
     "reactivation_pennies", "net_new_pennies", "new_customers", "churned_customers",
     "other_currency_subscriptions"],
)  # fmt: skip


SUMMARY_KPIS = [
    "gross_revenue_pennies", "refunds_pennies", "dispute_losses_pennies",
    "net_revenue_pennies", "paid_orders", "units_sold", "aov_pennies", "customers",
    "new_customers", "returning_customers", "repeat_purchase_rate", "refund_rate",
    "wishlist_conversion", "stripe_fees_pennies", "dispute_fees_pennies",
    "net_revenue_after_fees_pennies", "effective_fee_rate",
]  # fmt: skip


def _change(current, previous):
    """None ("not applicable", an empty cell) when either side is."""
    if current is None or previous is None:
        return None
    return current - previous


def _kpi_summary(f):
    as_of = f.date_to or kpis.default_as_of()
    for days in WINDOWS:
        window = Window.ending(as_of, days)
        current, previous = kpis_for(window), kpis_for(window.previous())
        for kpi in SUMMARY_KPIS:
            yield (days, window.start, window.end, kpi, current[kpi], previous[kpi],
                   _change(current[kpi], previous[kpi]),
                   KPI_DEFINITIONS_VERSION)  # fmt: skip


MRR_SUMMARY_KPIS = [
    "mrr_pennies", "mrr_start_pennies", "active_subscriptions", "paying_customers",
    "arpu_pennies", "customer_churn_rate", "gross_mrr_churn_rate",
    "net_mrr_churn_rate", "ltv_pennies", "quick_ratio", "new_pennies",
    "expansion_pennies", "reactivation_pennies", "contraction_pennies",
    "churn_pennies", "net_new_pennies", "churned_customers",
]  # fmt: skip


def _mrr_summary(f):
    """The subscriptions dashboard's cards for each window and the one before it."""
    as_of = f.date_to or kpis.default_as_of()
    for days in WINDOWS:
        window = Window.ending(as_of, days)
        current = kpis.mrr_summary(window)
        previous = kpis.mrr_summary(window.previous())
        for kpi in MRR_SUMMARY_KPIS:
            yield (days, window.start, window.end, kpi, current[kpi], previous[kpi],
                   _change(current[kpi], previous[kpi]),
                   KPI_DEFINITIONS_VERSION)  # fmt: skip


COHORT_MONTHS = 12


def _cohorts(f):
    """Retention per cohort and month since the first paid order, counted by one
    GROUP BY over the customer-day snapshots; months after as_of are left out."""
    as_of = f.date_to or kpis.default_as_of()
    months_since_first = (
        (ExtractYear("day") - ExtractYear("first_paid_day")) * 12
        + ExtractMonth("day")
        - ExtractMonth("first_paid_day")
    )
    grouped = (
        CustomerDailySnapshot.objects.filter(day__lte=as_of)
        .annotate(cohort=TruncMonth("first_paid_day"), k=months_since_first)
        .filter(k__gte=0, k__lt=COHORT_MONTHS)
        .values("cohort", "k")
        .annotate(active=Count("customer_id", distinct=True))
        .values_list("cohort", "k", "active")
        .order_by()
    )
    active = {(cohort, int(k)): n for cohort, k, n in grouped}
    for cohort in sorted({cohort for cohort, _ in active}):
        size = active.get((cohort, 0), 0)
        elapsed = (as_of.year - cohort.year) * 12 + as_of.month - cohort.month
        for k in range(min(elapsed, COHORT_MONTHS - 1) + 1):
            n = active.get((cohort, k), 0)
            yield (as_of, cohort, size, k, n, kpis.ratio(n, size))


def _window(f) -> Window:
    """The range given, or the 30 days to yesterday (the dashboards' default)."""
    end = f.date_to or kpis.default_as_of()
    if f.date_from:
        return Window(f.date_from, end)
    return Window.ending(end, 30)


def _best_sellers(f):
    """Every variant sold in the window, in the dashboard's order (variant_rank), with
    its product's totals and rank; both grouped in the database."""
    window = _window(f)
    sold = ProductDailySnapshot.objects.filter(day__range=(window.start, window.end))
    products = (
        sold.values("product_id")
        .annotate(units=Sum("units"), revenue=Sum("revenue_pennies"))
        .order_by("-units", "-revenue", "product_id")
    )
    product_rank = {
        p["product_id"]: (rank, p["units"], p["revenue"])
        for rank, p in enumerate(products, start=1)
    }
    variants = kpis.best_sellers(window, limit=None)
    labels = Variant.objects.select_related("product").in_bulk(
        [v["variant_id"] for v in variants]
    )
    for rank, v in enumerate(variants, start=1):
        p_rank, p_units, p_revenue = product_rank[v["product_id"]]
        yield (window.start, window.end, p_rank, v["product_id"], v["product__name"],
               p_units, p_revenue, rank, v["variant_id"], v["variant__sku"],
               labels[v["variant_id"]].label, v["units"],
               v["revenue_pennies"])  # fmt: skip


def _stock_cover(f):
    """Every variant sold in the 30 days to as_of, lowest cover first; on hand is the
    stock when the export runs, as on the dashboard."""
    as_of = f.date_to or kpis.default_as_of()
    window = Window.ending(as_of, 30)
    for row in kpis.stock_cover(as_of=as_of, limit=None):
        variant = row["variant"]
        per_day = row["per_day"]
        yield (as_of, window.start, window.end, variant.pk, variant.sku,
               variant.product_id, variant.product.name, variant.label,
               variant.stock_on_hand,
               (per_day * 30).to_integral_value(ROUND_HALF_UP),
               per_day.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
               row["cover_days"])  # fmt: skip


_wishlist_conversion = QueryRows(
    lambda f: _days_between(
        WishlistDailySnapshot.objects.order_by("day", "product_id"), f
    ),
    ["day", "product_id", "product__name", "adds", "converted"],
)

_restatements = QueryRows(
    lambda f: _days_between(Restatement.objects.order_by("restated_at", "pk"), f),
    ["restated_at", "day", "metric", "old_value", "new_value", "run_id"],
)

_payment_exceptions = QueryRows(
    lambda f: _between(
        PaymentException.objects.order_by("created_at", "pk"), "created_at", f
    ),
    ["created_at", "kind", "order__number", "payment__stripe_payment_intent",
     "stripe_ref", "resolved_at"],
)  # fmt: skip


# fmt: off
SUMMARY_TYPES = (
    INTEGER, DATE, DATE, STRING, KPI_VALUE, KPI_VALUE, KPI_VALUE, STRING,
)
EXPORTS = {
    e.name: e
    for e in [
        Export("orders", "Orders", [
            "number", "created_at", "status", "refund_status", "customer_id", "email",
            "currency", "subtotal_pennies", "shipping_pennies", "total_pennies",
            "refunded_pennies", "paid_at", "fulfilled_at", "canceled_at",
            "shipping_city", "shipping_postcode", "shipping_country",
        ], _orders, personal_data=True),
        Export("order_lines", "Order lines", [
            "order_number", "order_created_at", "order_status", "sku", "product_id",
            "variant_id", "product_name", "variant_label", "unit_price_pennies",
            "quantity", "line_total_pennies", "is_preorder",
        ], _order_lines),
        Export("payments", "Payments", [
            "payment_intent", "charge", "invoice", "paid_at", "source", "order_number",
            "customer_id", "amount_pennies", "currency", "applied", "problem",
        ], _payments),
        Export("refunds", "Refunds", [
            "refund_id", "created_at", "status", "amount_pennies", "currency", "reason",
            "payment_intent", "order_number",
        ], _refunds),
        Export("disputes", "Disputes", [
            "dispute_id", "created_at", "status", "reason", "amount_pennies",
            "currency", "funds_withdrawn_pennies", "funds_withdrawn_at",
            "funds_reinstated_pennies", "funds_reinstated_at", "order_number",
        ], _disputes),
        Export("balance_transactions", "Balance transactions (Stripe fees, net)", [
            "balance_transaction_id", "created_at", "type", "reporting_category",
            "amount_pennies", "fee_pennies", "net_pennies", "currency",
            "exchange_rate", "status", "available_on", "payout_id", "payment_intent",
            "charge", "refund_id", "dispute_id", "order_number",
        ], _balance_transactions),
        Export("payouts", "Payouts and their reconciliation", [
            "payout_id", "created_at", "arrival_date", "status", "amount_pennies",
            "currency", "lines", "lines_net_pennies", "difference_pennies",
            "failure_code", "reconciliation_status", "automatic",
        ], _payouts),
        Export("reconciliation", "Reconciliation by business day", [
            "day", "stripe_gross_pennies", "ledger_gross_pennies",
            "snapshot_gross_pennies", "stripe_refunds_pennies",
            "ledger_refunds_pennies", "snapshot_refunds_pennies",
            "stripe_fees_pennies", "snapshot_fees_pennies", "net_pennies",
            "paid_out_pennies", "in_transit_pennies", "not_paid_out_pennies",
            "status", "reasons",
        ], _reconciliation, types=(DATE, *[MONEY] * 12, STRING, STRING)),
        Export("customers", "Customers", [
            "customer_id", "email", "full_name", "joined_at", "active",
        ], _customers, personal_data=True),
        Export("products", "Products and variants", [
            "product_id", "product_name", "category", "variant_id", "sku",
            "price_override_pennies", "price_pennies", "currency", "stock_on_hand",
            "is_preorder", "product_active", "variant_active",
        ], _products),
        Export("daily_kpis", "Daily KPIs", [
            *DAILY_COLUMNS, "paid_order_revenue_pennies",
        ], _daily_kpis),
        Export("subscriptions", "Subscriptions", [
            "subscription_id", "customer_id", "stripe_customer_id", "status",
            "currency", "mrr_pennies", "started_at", "current_period_end",
            "cancel_at_period_end", "canceled_at", "ended_at",
        ], _subscriptions, personal_data=True),
        Export("subscription_changes", "Subscription changes", [
            "event_id", "subscription_id", "customer_id", "stripe_customer_id",
            "event_type", "at", "status", "mrr_pennies", "currency",
            "cancel_at_period_end", "ended_at",
        ], _subscription_changes, personal_data=True),
        Export("mrr_movements", "MRR and movements by day", [
            "day", "mrr_pennies", "active_subscriptions", "paying_customers",
            "new_pennies", "expansion_pennies", "contraction_pennies", "churn_pennies",
            "reactivation_pennies", "net_new_pennies", "new_customers",
            "churned_customers", "other_currency_subscriptions",
        ], _mrr_movements),
        Export("kpi_summary", "KPI summary (7/30/90 days)", [
            "window_days", "window_start", "window_end", "kpi", "value",
            "previous_value", "change", "kpi_definitions_version",
        ], _kpi_summary, as_of=True, types=SUMMARY_TYPES),
        Export("mrr_summary", "Subscription KPIs (7/30/90 days)", [
            "window_days", "window_start", "window_end", "kpi", "value",
            "previous_value", "change", "kpi_definitions_version",
        ], _mrr_summary, as_of=True, types=SUMMARY_TYPES),
        Export("cohorts", "Cohort retention by month", [
            "as_of", "cohort_month", "cohort_size", "months_since_first",
            "active_customers", "retention_rate",
        ], _cohorts, as_of=True, types=(
            DATE, DATE, INTEGER, INTEGER, INTEGER, decimal(18, 4),
        )),
        Export("best_sellers", "Best sellers by product and variant", [
            "window_start", "window_end", "product_rank", "product_id",
            "product_name", "product_units", "product_revenue_pennies",
            "variant_rank", "variant_id", "sku", "variant_label", "units",
            "revenue_pennies",
        ], _best_sellers, types=(
            DATE, DATE, INTEGER, INTEGER, STRING, INTEGER, MONEY, INTEGER, INTEGER,
            STRING, STRING, INTEGER, MONEY,
        )),
        Export("stock_cover", "Stock cover (30 days of sales)", [
            "as_of", "window_start", "window_end", "variant_id", "sku", "product_id",
            "product_name", "variant_label", "stock_on_hand", "units_sold",
            "units_per_day", "cover_days",
        ], _stock_cover, as_of=True, types=(
            DATE, DATE, DATE, INTEGER, STRING, INTEGER, STRING, STRING, INTEGER,
            INTEGER, decimal(18, 2), decimal(18, 1),
        )),
        Export("wishlist_conversion", "Wishlist adds and conversions by day", [
            "day", "product_id", "product_name", "adds", "converted",
        ], _wishlist_conversion),
        Export("restatements", "Restatements", [
            "restated_at", "day", "metric", "old_value", "new_value", "run_id",
        ], _restatements),
        Export("payment_exceptions", "Payment exceptions", [
            "created_at", "kind", "order_number", "payment_intent", "stripe_ref",
            "resolved_at",
        ], _payment_exceptions),
    ]
}
# fmt: on


class _Echo:
    def write(self, value):
        return value


def csv_chunks(export: Export, filters: Filters, tally: dict) -> Iterator[bytes]:
    """The export's UTF-8 bytes, header first, row by row; `tally` gets the row count
    and SHA-256 of everything yielded.

    On PostgreSQL a queryset export is streamed by COPY (the database writes the
    CSV, in blocks of COPY_BLOCK bytes); elsewhere Python's csv writer does, with
    the same quoting and line ends ("\\n")."""
    filters = export.applied(filters)
    digest = hashlib.sha256()
    tally.update(rows=0, sha256=None, complete=False, filters=filters.as_dict())

    def emit(data: bytes) -> bytes:
        digest.update(data)
        return data

    yield emit(_csv_line(csv.writer(_Echo()), export.columns))
    if isinstance(export.rows, QueryRows) and read_connection().vendor == "postgresql":
        yield from map(emit, _copy_blocks(export.rows, filters, tally))
    else:
        writer = csv.writer(_Echo())
        for row in export.rows(filters):
            tally["rows"] += 1
            yield emit(_csv_line(writer, [neutralise(v) for v in row]))
    tally.update(sha256=digest.hexdigest(), complete=True)


def _csv_line(writer, cells) -> bytes:
    # The writer's "\r\n" makes it quote any cell holding \r or \n, as COPY does;
    # the line then ends in "\n", as COPY's do.
    return (writer.writerow(cells)[:-2] + "\n").encode("utf-8")


def _copy_blocks(rows: QueryRows, filters: Filters, tally: dict) -> Iterator[bytes]:
    sql, params = rows.copy_sql(filters)
    block = bytearray()
    # The analytics scope's connection: the replica when one is fresh (core/replica.py).
    with read_connection().cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: Django's wrapper has no copy()
        with raw.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", params) as copy:
            for data in copy:
                block += data
                if len(block) >= COPY_BLOCK:
                    yield bytes(block)
                    block.clear()
        if block:
            yield bytes(block)
        tally["rows"] = raw.rowcount


def export_chunks(
    export: Export, filters: Filters, tally: dict, fmt: str = "csv"
) -> Iterator[bytes]:
    """The export's bytes in `fmt`: csv, xlsx or parquet (export_formats)."""
    if fmt == "csv":
        return csv_chunks(export, filters, tally)
    return file_chunks(export, filters, tally, fmt)


def audit_export(
    *,
    name,
    filters: Filters,
    tally: dict,
    actor=None,
    actor_label="",
    request=None,
    fmt="csv",
):
    """The download's audit row; `request` gives the client's address (a streamed
    download writes it after the view has returned); `fmt` is the file format."""
    audit_record(
        event_type="analytics.export",
        actor=actor,
        actor_label=actor_label,
        request=request,
        target_type="export",
        target_id=name,
        metadata={
            "export": name,
            "filters": tally.get("filters") or filters.as_dict(),
            "rows": tally.get("rows", 0),
            "sha256": tally.get("sha256"),
            "complete": tally.get("complete", False),
            "format": fmt,
        },
    )


# --- the BI pack --------------------------------------------------------------------

BI_TABLES = {
    "fact_order_lines": "order_lines",
    "fact_payments": "payments",
    "fact_refunds": "refunds",
    "fact_balance_transactions": "balance_transactions",
    "fact_subscription_changes": "subscription_changes",
    "dim_payout": "payouts",
    "dim_customer": "customers",
    "dim_product": "products",
    "fact_wishlist_daily": "wishlist_conversion",
    "agg_best_sellers": "best_sellers",
    "agg_stock_cover": "stock_cover",
    "agg_cohorts": "cohorts",
    "agg_mrr_summary": "mrr_summary",
}
BI_MANIFEST = {
    "fact_order_lines": {"keys": ["order_number", "variant_id"],
                         "relations": {"variant_id": "dim_product.variant_id",
                                       "order_created_at": "dim_date.date"}},
    "fact_payments": {"keys": ["payment_intent", "charge", "invoice"],
                      "relations": {"customer_id": "dim_customer.customer_id",
                                    "paid_at": "dim_date.date"}},
    "fact_refunds": {"keys": ["refund_id"],
                     "relations": {"payment_intent": "fact_payments.payment_intent",
                                   "created_at": "dim_date.date"}},
    "fact_balance_transactions": {"keys": ["balance_transaction_id"],
                                  "relations": {"payout_id": "dim_payout.payout_id",
                                                "charge": "fact_payments.charge",
                                                "refund_id": "fact_refunds.refund_id",
                                                "created_at": "dim_date.date"}},
    "fact_subscription_changes": {
        "keys": ["event_id"],
        "relations": {"customer_id": "dim_customer.customer_id",
                      "at": "dim_date.date"}},
    "dim_payout": {"keys": ["payout_id"],
                   "relations": {"created_at": "dim_date.date"}},
    "dim_customer": {"keys": ["customer_id"], "relations": {}},
    "dim_product": {"keys": ["variant_id"], "relations": {}},
    "dim_date": {"keys": ["date"], "relations": {}},
    "fact_wishlist_daily": {"keys": ["day", "product_id"],
                            "relations": {"day": "dim_date.date"}},
    "agg_best_sellers": {"keys": ["window_start", "window_end", "variant_id"],
                         "relations": {"variant_id": "dim_product.variant_id"}},
    "agg_stock_cover": {"keys": ["as_of", "variant_id"],
                        "relations": {"variant_id": "dim_product.variant_id"}},
    "agg_cohorts": {"keys": ["as_of", "cohort_month", "months_since_first"],
                    "relations": {}},
    "agg_mrr_summary": {"keys": ["window_days", "kpi"], "relations": {}},
}  # fmt: skip
DIM_DATE_COLUMNS = [
    "date",
    "year",
    "quarter",
    "month",
    "iso_week",
    "weekday",
    "is_weekend",
]
DIM_DATE_TYPES = (DATE, INTEGER, INTEGER, INTEGER, INTEGER, STRING, BOOLEAN)


def _dim_date(filters: Filters):
    end = filters.date_to or kpis.default_as_of()
    start = filters.date_from or (
        DailySnapshot.objects.order_by("day").values_list("day", flat=True).first()
        or end
    )
    day = start
    while day <= end:
        iso = day.isocalendar()
        yield (day, day.year, (day.month - 1) // 3 + 1, day.month, iso.week,
               day.strftime("%A"), day.weekday() >= 5)  # fmt: skip
        day += dt.timedelta(days=1)


DIM_DATE = Export(
    "dim_date", "Dates", DIM_DATE_COLUMNS, _dim_date, types=DIM_DATE_TYPES
)


def _bi_export(table: str) -> Export:
    return DIM_DATE if table == "dim_date" else EXPORTS[BI_TABLES[table]]


def bi_pack(filters: Filters, tally: dict, fmt: str = "csv"):
    """A ZIP of fact and dimension tables (CSV or Parquet files) and a manifest,
    spooled to disk (constant memory), returned as an open file positioned at 0."""
    export_format(fmt, choices=("csv", "parquet"))
    # Returned open for the response to stream and close: no context manager here.
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    rows = 0
    # Parquet is compressed inside already: its members are stored as they are.
    compression = zipfile.ZIP_DEFLATED if fmt == "csv" else zipfile.ZIP_STORED
    with zipfile.ZipFile(spool, "w", compression=compression) as archive:
        for table in [*BI_TABLES, "dim_date"]:
            part: dict = {}
            with archive.open(f"{table}.{fmt}", "w") as member:
                if fmt == "csv":
                    for chunk in csv_chunks(_bi_export(table), filters, part):
                        member.write(chunk)
                else:
                    copy_file(_bi_export(table), filters, part, member, fmt)
            rows += part["rows"]
        manifest = {
            "kpi_definitions_version": KPI_DEFINITIONS_VERSION,
            "currency": settings.STORE_CURRENCY,
            "reporting_timezone": settings.REPORTING_TIMEZONE,
            "filters": filters.as_dict(),
            "format": fmt,
            "tables": {
                name: {
                    "file": f"{name}.{fmt}",
                    "columns": (
                        _bi_export(name).columns if fmt == "csv"
                        else parquet_columns(_bi_export(name))
                    ),
                    "types": column_types(_bi_export(name)),
                    **BI_MANIFEST[name],
                }
                for name in BI_MANIFEST
            },
        }  # fmt: skip
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, default=str))
    spool.seek(0)
    digest = hashlib.sha256()
    for block in iter(lambda: spool.read(64 * 1024), b""):
        digest.update(block)
    spool.seek(0)
    tally.update(rows=rows, sha256=digest.hexdigest(), complete=True)
    return spool
