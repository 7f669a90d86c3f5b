"""Subscriptions in the shop's past, made by the real services at past moments.

Customers subscribe through the offline Stripe pipeline, some cancel at period
end, and renewals run the way `renew_subscriptions_offline` runs them; under
time-machine every row and every Stripe event carries the time it would have.

Like the order history, subscriptions start on day offsets before today (London),
at 09:00-20:59 London. Stripe renews on the start's day of the month, so a
renewal's offset depends on the months in between (28 to 31 days each, 29
February included): a start and a cancellation are drawn only at offsets that no
renewal of any calendar comes within a day of, so every seed gives each
subscription the same number of renewals and the same status on any date.
"""

import calendar
import datetime as dt
import functools
import random

from django.urls import resolve

from accounts.models import User
from catalog.models import Variant
from core.timeutils import reporting_tz
from demo.history import seed_cutoff, travel_to
from payments.gateway import OfflineGateway
from subscriptions.billing import (
    subscription_cancel_at_period_end,
    subscriptions_renew_offline,
)
from subscriptions.checkout import subscription_checkout_start
from subscriptions.models import Subscription

# The demo customer login subscribes to the first plan and keeps it.
DEMO_SUBSCRIBER = "customer@purelaka.test"


def seed_subscriptions(*, seed: int, days: int, report, out=print) -> None:
    if days <= 0 or Subscription.objects.exists():
        return
    rng = random.Random(f"{seed}:subscriptions")  # noqa: S311 - demo data
    plans = list(
        Variant.objects.select_related("product")
        .filter(active=True, product__active=True)
        .exclude(product__billing_interval="")
        .order_by("pk")
    )
    customers = list(User.objects.filter(groups__name="customer").order_by("pk"))
    others = [c for c in customers if c.email != DEMO_SUBSCRIBER]
    if not plans or not customers:
        return
    subscribers = [c for c in customers if c.email == DEMO_SUBSCRIBER] + rng.sample(
        others, k=min(len(others), max(2, len(customers) // 6))
    )
    weights = [3 if v.product.billing_interval == "month" else 1 for v in plans]
    today, cutoff = seed_cutoff()
    cancels = []
    for person in subscribers:
        keeps = person.email == DEMO_SUBSCRIBER
        plan = plans[0] if keeps else rng.choices(plans, weights=weights)[0]
        interval = plan.product.billing_interval
        first = max(1, days // 10)
        offset = rng.choice(
            [
                n
                for n in range(first, max(first, days * 95 // 100) + 1)
                if _clear_of_renewals(n, interval, days)
            ]
            or [first]
        )
        moment = dt.datetime.combine(
            today - dt.timedelta(days=offset),
            dt.time(rng.randint(9, 20), rng.randint(0, 59)),
            tzinfo=reporting_tz(),
        )
        subscription_id = _subscribe(person, plan, moment)
        report.add("subscriptions")
        after = rng.choice(
            [n for n in range(3, 46) if _clear_of_renewals(n, interval, days)]
        )
        when = moment + dt.timedelta(days=after)
        if not keeps and rng.random() < 0.3 and when < cutoff:
            cancels.append((when, subscription_id))
    for when, subscription_id in sorted(cancels):
        with travel_to(when):
            _renew(report)  # what fell due before this moment
            subscription = Subscription.objects.select_related("customer").get(
                stripe_subscription_id=subscription_id
            )
            subscription_cancel_at_period_end(
                subscription=subscription, actor=subscription.customer
            )
        report.add("subscription cancellations")
    _renew(report, at=cutoff)
    out(
        f"  subscriptions: {len(subscribers)} subscribers, "
        f"{len(cancels)} set to cancel at period end"
    )


def _subscribe(person: User, plan: Variant, moment: dt.datetime) -> str:
    """Checkout, then Subscribe on the offline checkout page."""
    with travel_to(moment):
        session = subscription_checkout_start(
            customer=person, variant=plan, success_url="/", cancel_url="/"
        )
        token = resolve(session.url).kwargs["token"]
        return OfflineGateway().subscribe(
            session=OfflineGateway.subscription_session(token)
        )


def _renew(report, at: dt.datetime | None = None) -> None:
    run = subscriptions_renew_offline(at=at, actor_label="seed_demo")
    report.add("subscription renewals", run.renewals)
    report.add("subscriptions ended", run.ended)


@functools.cache
def _period_lengths(interval: str, periods: int) -> tuple[int, int]:
    """The fewest and most days that `periods` billing periods span, over every
    start day of a four-year cycle (month ends and 29 February included)."""
    months = periods * (12 if interval == "year" else 1)
    first = dt.date(2027, 1, 1)
    lengths = set()
    for n in range(1461):
        start = first + dt.timedelta(days=n)
        index = start.month - 1 + months
        year, month = start.year + index // 12, index % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        lengths.add((dt.date(year, month, day) - start).days)
    return min(lengths), max(lengths)


def _clear_of_renewals(days_on: int, interval: str, horizon: int) -> bool:
    """True when no period end of any calendar falls within a day of `days_on`
    days after a start, for the periods that fit in `horizon` days."""
    if interval not in ("month", "year"):
        return True  # day and week periods do not depend on the calendar
    periods = 1
    while True:
        shortest, longest = _period_lengths(interval, periods)
        if shortest > horizon + 1:
            return True
        if shortest - 1 <= days_on <= longest + 1:
            return False
        periods += 1
