"""Daily MRR and its movements, from the subscription change history.

For each customer (Stripe customer id), MRR at the end of a business day is the sum
of their subscriptions' MRR as of the newest change at or before that moment (Stripe
time). Comparing a day's end with the day before gives, per customer: new (first
ever MRR), reactivation (MRR again after churning), expansion, contraction, churn
(the customer's last subscription ended). The history is walked in Python: it is
bounded by subscriptions x changes, not by orders.
"""

import datetime as dt
from bisect import bisect_right
from collections import defaultdict

from django.db import transaction

from analyticsapp.models import MrrDailySnapshot
from core.timeutils import day_bounds_utc
from subscriptions.models import Subscription, SubscriptionChange
from subscriptions.services import STATUS_RANK

ACTIVE = {"active", "past_due"}


def _histories():
    """subscription id → (customer key, [(at, rank, event, mrr, status)] sorted)."""
    owners = dict(
        Subscription.objects.values_list("pk", "stripe_customer_id").order_by()
    )
    histories = defaultdict(list)
    for change in SubscriptionChange.objects.order_by().iterator():
        histories[change.subscription_id].append(
            (change.at, STATUS_RANK.get(change.status, 0), change.stripe_event_id,
             change.mrr_pennies, change.status)
        )  # fmt: skip
    return {
        pk: (owners.get(pk) or f"sub:{pk}", sorted(rows))
        for pk, rows in histories.items()
    }


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
        subscriptions += int(state[4] in ACTIVE)
    return mrr, subscriptions


def _ever_paid_before(histories, moment):
    paid = set()
    for customer, rows in histories.values():
        if any(r[3] > 0 and r[0] <= moment for r in rows):
            paid.add(customer)
    return paid


@transaction.atomic
def mrr_build(*, date_from: dt.date, date_to: dt.date) -> int:
    """Rebuild MRR snapshots for [date_from, date_to] (delete, insert); returns days."""
    histories = _histories()
    MrrDailySnapshot.objects.filter(day__range=(date_from, date_to)).delete()
    previous_end = day_bounds_utc(date_from)[0]
    before, _ = _customers_at(histories, previous_end - dt.timedelta(microseconds=1))
    paid_ever = _ever_paid_before(
        histories, previous_end - dt.timedelta(microseconds=1)
    )
    rows, day = [], date_from
    while day <= date_to:
        end = day_bounds_utc(day)[1] - dt.timedelta(microseconds=1)
        after, subscriptions = _customers_at(histories, end)
        row = MrrDailySnapshot(
            day=day,
            mrr_pennies=sum(after.values()),
            active_subscriptions=subscriptions,
            paying_customers=sum(1 for v in after.values() if v > 0),
        )
        for customer in set(before) | set(after):
            old, new = before.get(customer, 0), after.get(customer, 0)
            if old == new:
                continue
            if old == 0:
                if customer in paid_ever:
                    row.reactivation_pennies += new
                else:
                    row.new_pennies += new
                    row.new_customers += 1
            elif new == 0:
                row.churn_pennies += old
                row.churned_customers += 1
            elif new > old:
                row.expansion_pennies += new - old
            else:
                row.contraction_pennies += old - new
            if new > 0:
                paid_ever.add(customer)
        row.net_new_pennies = (
            row.new_pennies + row.expansion_pennies + row.reactivation_pennies
            - row.contraction_pennies - row.churn_pennies
        )  # fmt: skip
        rows.append(row)
        before = after
        day += dt.timedelta(days=1)
    MrrDailySnapshot.objects.bulk_create(rows)
    return len(rows)
