"""B1: the snapshot build against one hand-written SQL statement.

The limit is what PostgreSQL itself needs for the same job: one statement (with
data-modifying CTEs) that computes the same per-day aggregates (the daily, the
customer-day, the variant-day and the wishlist-day rows) and writes them into the
same tables, after the same DELETE of the range. It runs in a transaction that is
rolled back, and its rows must equal the build's: the hand-written SQL is also an
independent oracle for the build's numbers (an invariant, not a timing).

Also timed: the nightly rebuild of the last 7 days (goal: under 1 s).
"""

import statistics
import time

from django.conf import settings
from django.db import connection, transaction

GOAL_RATIO = 1.3
GOAL_NIGHTLY_SECONDS = 1.0

TABLES = {
    "analyticsapp_dailysnapshot": (
        "day, order_revenue_pennies, subscription_revenue_pennies, "
        "other_revenue_pennies, gross_revenue_pennies, refunds_pennies, "
        "dispute_losses_pennies, net_revenue_pennies, paid_orders, units_sold, "
        "customers, new_customers, returning_customers, stripe_fees_pennies, "
        "dispute_fees_pennies, net_revenue_after_fees_pennies, "
        "paid_order_revenue_pennies"
    ),
    "analyticsapp_customerdailysnapshot": (
        "day, customer_id, paid_orders, revenue_pennies, lifetime_paid_orders, "
        "first_paid_day"
    ),
    "analyticsapp_productdailysnapshot": (
        "day, product_id, variant_id, units, revenue_pennies"
    ),
    "analyticsapp_wishlistdailysnapshot": "day, product_id, adds, converted",
}

HAND_SQL = """
WITH
money AS (
  SELECT (paid_at AT TIME ZONE %(tz)s)::date AS day,
    SUM(amount_pennies) FILTER (WHERE source = 'order') AS order_rev,
    SUM(amount_pennies) FILTER (WHERE source = 'subscription') AS sub_rev,
    SUM(amount_pennies) FILTER (WHERE source = 'other') AS other_rev
  FROM payments_payment
  WHERE currency = %(cur)s AND paid_at >= %(start)s AND paid_at < %(end)s
  GROUP BY 1),
refunds AS (
  SELECT (stripe_created AT TIME ZONE %(tz)s)::date AS day, SUM(amount_pennies) AS r
  FROM payments_refund
  WHERE status = 'succeeded' AND currency = %(cur)s
    AND stripe_created >= %(start)s AND stripe_created < %(end)s
  GROUP BY 1),
withdrawn AS (
  SELECT (funds_withdrawn_at AT TIME ZONE %(tz)s)::date AS day,
    SUM(funds_withdrawn_pennies) AS w
  FROM payments_dispute
  WHERE currency = %(cur)s
    AND funds_withdrawn_at >= %(start)s AND funds_withdrawn_at < %(end)s
  GROUP BY 1),
reinstated AS (
  SELECT (funds_reinstated_at AT TIME ZONE %(tz)s)::date AS day,
    SUM(funds_reinstated_pennies) AS r
  FROM payments_dispute
  WHERE currency = %(cur)s
    AND funds_reinstated_at >= %(start)s AND funds_reinstated_at < %(end)s
  GROUP BY 1),
fees AS (
  SELECT (stripe_created AT TIME ZONE %(tz)s)::date AS day,
    SUM(fee_pennies) FILTER (WHERE reporting_category <> 'dispute') AS stripe,
    SUM(fee_pennies) FILTER (WHERE reporting_category = 'dispute') AS dispute
  FROM payments_balancetransaction
  WHERE currency = %(cur)s
    AND stripe_created >= %(start)s AND stripe_created < %(end)s
  GROUP BY 1),
paid AS (
  SELECT customer_id, paid_at, amount_pennies FROM payments_payment
  WHERE applied AND source = 'order' AND currency = %(cur)s
    AND customer_id IS NOT NULL AND paid_at < %(end)s),
history AS (
  SELECT customer_id, (paid_at AT TIME ZONE %(tz)s)::date AS day, COUNT(*) AS n,
    SUM(amount_pennies) AS revenue
  FROM paid
  WHERE customer_id IN (SELECT customer_id FROM paid WHERE paid_at >= %(start)s)
  GROUP BY 1, 2),
running AS (
  SELECT day, customer_id, n, revenue,
    SUM(n) OVER (PARTITION BY customer_id ORDER BY day) AS lifetime,
    MIN(day) OVER (PARTITION BY customer_id) AS first
  FROM history),
ins_customers AS (
  INSERT INTO analyticsapp_customerdailysnapshot
    (day, customer_id, paid_orders, revenue_pennies, lifetime_paid_orders,
     first_paid_day)
  SELECT day, customer_id, n, revenue, lifetime, first FROM running
  WHERE day BETWEEN %(date_from)s AND %(date_to)s
  RETURNING day, paid_orders, revenue_pennies, first_paid_day),
ins_products AS (
  INSERT INTO analyticsapp_productdailysnapshot
    (day, product_id, variant_id, units, revenue_pennies)
  SELECT (p.paid_at AT TIME ZONE %(tz)s)::date, v.product_id, l.variant_id,
    SUM(l.quantity), SUM(l.line_total_pennies)
  FROM orders_orderline l
  JOIN payments_payment p ON p.order_id = l.order_id
  JOIN catalog_variant v ON v.id = l.variant_id
  WHERE p.applied AND p.source = 'order' AND p.currency = %(cur)s
    AND p.paid_at >= %(start)s AND p.paid_at < %(end)s
  GROUP BY 1, 2, 3
  RETURNING day, units),
ins_wishlist AS (
  INSERT INTO analyticsapp_wishlistdailysnapshot (day, product_id, adds, converted)
  SELECT (w.added_at AT TIME ZONE %(tz)s)::date, w.product_id, COUNT(*),
    COUNT(*) FILTER (WHERE w.id IN (
      SELECT w2.id FROM wishlist_wishlistitem w2
      JOIN orders_order o ON o.customer_id = w2.customer_id
      JOIN orders_orderline l ON l.order_id = o.id
      JOIN catalog_variant v ON v.id = l.variant_id
      JOIN payments_payment p ON p.order_id = o.id
      WHERE w2.added_at >= %(start)s AND w2.added_at < %(end)s
        AND v.product_id = w2.product_id AND p.applied
        AND p.paid_at >= w2.added_at
        AND p.paid_at <= w2.added_at + interval '30 days'))
  FROM wishlist_wishlistitem w
  WHERE w.added_at >= %(start)s AND w.added_at < %(end)s
  GROUP BY 1, 2
  RETURNING day),
customer_days AS (
  SELECT day, SUM(paid_orders) AS orders, SUM(revenue_pennies) AS revenue,
    COUNT(*) AS customers,
    COUNT(*) FILTER (WHERE first_paid_day = day) AS new
  FROM ins_customers GROUP BY day),
product_days AS (SELECT day, SUM(units) AS units FROM ins_products GROUP BY day),
days AS (
  SELECT d::date AS day
  FROM generate_series(%(date_from)s::date, %(date_to)s::date, interval '1 day') d)
INSERT INTO analyticsapp_dailysnapshot
  (day, order_revenue_pennies, subscription_revenue_pennies, other_revenue_pennies,
   gross_revenue_pennies, refunds_pennies, dispute_losses_pennies,
   net_revenue_pennies, paid_orders, units_sold, customers, new_customers,
   returning_customers, stripe_fees_pennies, dispute_fees_pennies,
   net_revenue_after_fees_pennies, paid_order_revenue_pennies, built_at)
SELECT d.day, COALESCE(m.order_rev, 0), COALESCE(m.sub_rev, 0),
  COALESCE(m.other_rev, 0),
  COALESCE(m.order_rev, 0) + COALESCE(m.sub_rev, 0) + COALESCE(m.other_rev, 0),
  COALESCE(r.r, 0), COALESCE(w.w, 0) - COALESCE(ri.r, 0),
  COALESCE(m.order_rev, 0) + COALESCE(m.sub_rev, 0) + COALESCE(m.other_rev, 0)
    - COALESCE(r.r, 0) - (COALESCE(w.w, 0) - COALESCE(ri.r, 0)),
  COALESCE(c.orders, 0), COALESCE(pd.units, 0), COALESCE(c.customers, 0),
  COALESCE(c.new, 0), COALESCE(c.customers, 0) - COALESCE(c.new, 0),
  COALESCE(f.stripe, 0), COALESCE(f.dispute, 0),
  COALESCE(m.order_rev, 0) + COALESCE(m.sub_rev, 0) + COALESCE(m.other_rev, 0)
    - COALESCE(r.r, 0) - (COALESCE(w.w, 0) - COALESCE(ri.r, 0))
    - COALESCE(f.stripe, 0) - COALESCE(f.dispute, 0),
  COALESCE(c.revenue, 0), now()
FROM days d
LEFT JOIN money m ON m.day = d.day
LEFT JOIN refunds r ON r.day = d.day
LEFT JOIN withdrawn w ON w.day = d.day
LEFT JOIN reinstated ri ON ri.day = d.day
LEFT JOIN customer_days c ON c.day = d.day
LEFT JOIN product_days pd ON pd.day = d.day
LEFT JOIN fees f ON f.day = d.day
"""


def _bounds():
    from analyticsapp.services.snapshots import history_bounds

    return history_bounds()


def build_all():
    from analyticsapp.services.snapshots import snapshots_build

    date_from, date_to = _bounds()
    # The build alone (the limit is the same writes by hand): no warming after it.
    return snapshots_build(
        date_from=date_from, date_to=date_to, triggered_by="bench", warm=False
    )


def fingerprints(date_from, date_to) -> dict:
    """Row count and an order-free hash of every snapshot table's rows in range."""
    out = {}
    with connection.cursor() as cursor:
        for table, columns in TABLES.items():
            cursor.execute(
                f"SELECT COUNT(*), COALESCE(SUM(hashtext(concat_ws('|', {columns}))"
                f"::bigint), 0) FROM {table} WHERE day BETWEEN %s AND %s",
                [date_from, date_to],
            )
            out[table] = list(cursor.fetchone())
    return out


def _hand_sql(date_from, date_to) -> tuple[float, float]:
    """Inside the caller's transaction: DELETE the range, then the one statement."""
    from core.timeutils import day_bounds_utc

    params = {
        "tz": settings.REPORTING_TIMEZONE,
        "cur": settings.STORE_CURRENCY.upper(),
        "start": day_bounds_utc(date_from)[0],
        "end": day_bounds_utc(date_to)[1],
        "date_from": date_from,
        "date_to": date_to,
    }
    with connection.cursor() as cursor:
        # Foreign keys checked as the rows go in, as the build's commit checks them.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        # The one statement's row estimates (grouped CTEs joined on a generated
        # series) cross PostgreSQL's JIT cost threshold, and compiling it takes
        # longer (~1.3 s) than running it: the limit is the work, not LLVM.
        cursor.execute("SET LOCAL jit = off")
        t0 = time.perf_counter()
        for table in TABLES:
            cursor.execute(
                f"DELETE FROM {table} WHERE day BETWEEN %s AND %s", [date_from, date_to]
            )
        t1 = time.perf_counter()
        cursor.execute(HAND_SQL, params)
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1


class _Rollback(Exception):
    pass


def run(*, log=print) -> dict:
    import datetime as dt

    from analyticsapp.services.snapshots import snapshots_build

    date_from, date_to = _bounds()
    days = (date_to - date_from).days + 1
    log(f"[B1] snapshot build of {days} days ({date_from} … {date_to})")
    t0 = time.perf_counter()
    build_all()
    initial = time.perf_counter() - t0
    log(f"[B1]   first build (empty tables): {initial:.2f} s")
    t0 = time.perf_counter()
    run = build_all()
    rebuild = time.perf_counter() - t0
    log(
        f"[B1]   full rebuild: {rebuild:.2f} s "
        f"({run.restated_days} days restated: expected 0)"
    )
    built = fingerprints(date_from, date_to)

    limit = {}
    try:
        with transaction.atomic():
            delete, statement = _hand_sql(date_from, date_to)
            limit = {
                "delete_seconds": round(delete, 3),
                "statement_seconds": round(statement, 3),
                "fingerprints": fingerprints(date_from, date_to),
            }
            raise _Rollback
    except _Rollback:
        pass
    limit_total = limit["delete_seconds"] + limit["statement_seconds"]
    ratio = rebuild / limit_total
    log(
        f"[B1]   limit (DELETE + one hand-written statement): {limit_total:.2f} s; "
        f"ratio {ratio:.2f} (goal <= {GOAL_RATIO})"
    )

    # Two full rebuilds and the rolled-back limit left a million dead rows behind;
    # a live database has autovacuum clear them between nightly runs.
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {', '.join(TABLES)}")
    nightly = []
    for _ in range(3):
        t0 = time.perf_counter()
        snapshots_build(
            date_from=date_to - dt.timedelta(days=6),
            date_to=date_to,
            triggered_by="bench-nightly",
            warm=False,
        )
        nightly.append(time.perf_counter() - t0)
    nightly_median = statistics.median(nightly)
    # The oracle again on the nightly range, where the counts before the range and
    # the first paid days come from history (a full rebuild has no history before).
    week_from = date_to - dt.timedelta(days=6)
    week_built = fingerprints(week_from, date_to)
    week_hand = {}
    try:
        with transaction.atomic():
            _hand_sql(week_from, date_to)
            week_hand = fingerprints(week_from, date_to)
            raise _Rollback
    except _Rollback:
        pass
    week_same = week_built == week_hand
    if not week_same:
        log(f"[B1]   MISMATCH nightly build {week_built} vs hand SQL {week_hand}")
    log(
        f"[B1]   nightly 7-day rebuild: median {nightly_median:.3f} s of 3 "
        f"(goal < {GOAL_NIGHTLY_SECONDS} s)"
    )
    same = built == limit["fingerprints"]
    if not same:
        log(f"[B1]   MISMATCH build {built} vs hand SQL {limit['fingerprints']}")
    return {
        "days": days,
        "first_build_seconds": round(initial, 3),
        "rebuild_seconds": round(rebuild, 3),
        "limit_seconds": round(limit_total, 3),
        "limit": {k: v for k, v in limit.items() if k != "fingerprints"},
        "ratio": round(ratio, 3),
        "goal_ratio": GOAL_RATIO,
        "nightly_seconds": [round(s, 3) for s in nightly],
        "nightly_median_seconds": round(nightly_median, 3),
        "goal_nightly_seconds": GOAL_NIGHTLY_SECONDS,
        "rows": {t: c for t, (c, _h) in built.items()},
        "invariants": {
            "rows_equal_hand_sql": same,
            "nightly_rows_equal_hand_sql": week_same,
            "rebuild_restated_nothing": run.restated_days == 0,
            "ok": same and week_same and run.restated_days == 0,
        },
    }
