"""Daily MRR and its movements, from the subscription change history.

For each customer (Stripe customer id), MRR at the end of a business day is the sum
of their subscriptions' MRR as of the newest change at or before that moment (Stripe
time; in one second, the later state in a subscription's life, then the larger event
id: the rule `subscription_apply` keeps). A subscription's end is dated by Stripe's
`ended_at`. Comparing a day's end with the day before gives, per customer: new (the
first day that ends with MRR), reactivation (MRR again after a day that ended
without), expansion, contraction, churn (the customer's last paying subscription
stopped). Only subscriptions in STORE_CURRENCY count; the others are counted apart.

Every figure of a day follows from the full history up to that day's end, never
from where a rebuild starts, so a rebuild of any range gives the rows a full rebuild
gives. The history is walked in Python: it is bounded by subscriptions x changes,
not by orders.
"""

import datetime as dt
from bisect import bisect_right
from collections import defaultdict

from django.conf import settings
from django.db import transaction

from analyticsapp.models import MrrDailySnapshot, Restatement, SnapshotRun
from core.timeutils import business_day, day_bounds_utc
from subscriptions.models import Subscription, SubscriptionChange
from subscriptions.services import COUNTS_FOR_MRR, STATUS_RANK

ENDED = {"canceled", "incomplete_expired"}
METRICS = [
    "mrr_pennies",
    "active_subscriptions",
    "paying_customers",
    "new_pennies",
    "expansion_pennies",
    "contraction_pennies",
    "churn_pennies",
    "reactivation_pennies",
    "net_new_pennies",
    "churned_customers",
    "new_customers",
    "other_currency_subscriptions",
]


def restatement_metric(field: str) -> str:
    """The name an MRR snapshot field is restated under (beside the daily ones)."""
    return field if field.startswith("mrr_") else f"mrr_{field}"


def _histories() -> tuple[dict, dict]:
    """(store currency, other currencies): subscription id → (customer key,
    [(at, rank, event, mrr, status)] in the order changes apply)."""
    store = settings.STORE_CURRENCY.upper()
    subscriptions = {
        pk: (customer or f"sub:{pk}", (code or "").upper(), ended_at)
        for pk, customer, code, ended_at in Subscription.objects.values_list(
            "pk", "stripe_customer_id", "currency", "ended_at"
        ).order_by()
    }
    histories = defaultdict(list)
    for change in SubscriptionChange.objects.order_by().iterator():
        ended_at = subscriptions[change.subscription_id][2]
        # Churn is dated when Stripe says the subscription ended, not when the
        # event that told us was stamped (it can fall after midnight).
        at = ended_at if change.status in ENDED and ended_at else change.at
        histories[change.subscription_id].append(
            (at, STATUS_RANK.get(change.status, 0), change.stripe_event_id,
             change.mrr_pennies, change.status)
        )  # fmt: skip
    in_store, others = {}, {}
    for pk, rows in histories.items():
        customer, code, _ = subscriptions[pk]
        target = in_store if code == store else others
        target[pk] = (customer, sorted(rows))
    return in_store, others


def _state_at(rows, moment):
    """The newest change at or before `moment` (rows are sorted by time)."""
    i = bisect_right(rows, moment, key=lambda row: row[0])
    return rows[i - 1] if i else None


def _customers_at(histories, moment):
    mrr, subscriptions = defaultdict(int), 0
    for customer, rows in histories.values():
        state = _state_at(rows, moment)
        if state is None:
            continue
        mrr[customer] += state[3]
        subscriptions += int(state[4] in COUNTS_FOR_MRR)
    return mrr, subscriptions


def _first_paid_days(histories) -> dict:
    """customer → the first business day that ended with their MRR above zero.

    MRR that starts and stops within one day never reaches a day's end: it makes
    no customer new (and no movement at all)."""
    by_customer = defaultdict(list)
    for customer, rows in histories.values():
        by_customer[customer].append(rows)
    first = {}
    for customer, histories_of_customer in by_customer.items():
        moments = sorted({row[0] for rows in histories_of_customer for row in rows})
        for i, moment in enumerate(moments):
            day = business_day(moment)
            if i + 1 < len(moments) and business_day(moments[i + 1]) == day:
                continue  # another change the same day: this total never ends a day
            total = 0
            for rows in histories_of_customer:
                state = _state_at(rows, moment)
                total += state[3] if state else 0
            if total > 0:
                first[customer] = day
                break
    return first


def _day_end(day: dt.date) -> dt.datetime:
    return day_bounds_utc(day)[1] - dt.timedelta(microseconds=1)


@transaction.atomic
def mrr_build(
    *, date_from: dt.date, date_to: dt.date, run: SnapshotRun | None = None
) -> int:
    """Rebuild MRR snapshots for [date_from, date_to] (delete, insert); returns days.

    With a `run`, every changed number of a day that existed before is logged as a
    Restatement of that run (metric names from `restatement_metric`)."""
    histories, others = _histories()
    first_paid = _first_paid_days(histories)
    old = {
        row["day"]: row
        for row in MrrDailySnapshot.objects.filter(
            day__range=(date_from, date_to)
        ).values()
    }
    MrrDailySnapshot.objects.filter(day__range=(date_from, date_to)).delete()
    before, _ = _customers_at(histories, _day_end(date_from - dt.timedelta(days=1)))
    rows, day = [], date_from
    while day <= date_to:
        end = _day_end(day)
        after, subscriptions = _customers_at(histories, end)
        row = MrrDailySnapshot(
            day=day,
            mrr_pennies=sum(after.values()),
            active_subscriptions=subscriptions,
            paying_customers=sum(1 for v in after.values() if v > 0),
            other_currency_subscriptions=_customers_at(others, end)[1],
        )
        for customer in set(before) | set(after):
            old_mrr, new_mrr = before.get(customer, 0), after.get(customer, 0)
            if old_mrr == new_mrr:
                continue
            if old_mrr == 0:
                if first_paid.get(customer) == day:
                    row.new_pennies += new_mrr
                    row.new_customers += 1
                else:
                    row.reactivation_pennies += new_mrr
            elif new_mrr == 0:
                row.churn_pennies += old_mrr
                row.churned_customers += 1
            elif new_mrr > old_mrr:
                row.expansion_pennies += new_mrr - old_mrr
            else:
                row.contraction_pennies += old_mrr - new_mrr
        row.net_new_pennies = (
            row.new_pennies + row.expansion_pennies + row.reactivation_pennies
            - row.contraction_pennies - row.churn_pennies
        )  # fmt: skip
        rows.append(row)
        before = after
        day += dt.timedelta(days=1)
    MrrDailySnapshot.objects.bulk_create(rows)
    if run is not None:
        Restatement.objects.bulk_create(
            Restatement(
                run=run,
                day=row.day,
                metric=restatement_metric(metric),
                old_value=old[row.day][metric],
                new_value=getattr(row, metric),
            )
            for row in rows
            if row.day in old
            for metric in METRICS
            if old[row.day][metric] != getattr(row, metric)
        )
    return len(rows)
