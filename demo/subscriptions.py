"""Subscriptions in the shop's past, made by the real services at past moments.

Customers subscribe through the offline Stripe pipeline, some cancel at period
end, and renewals run the way `renew_subscriptions_offline` runs them; under
time-machine every row and every Stripe event carries the time it would have.
"""

import datetime as dt
import random

from django.urls import resolve
from django.utils import timezone

from accounts.models import User
from catalog.models import Variant
from demo.history import travel_to
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
    now = timezone.now()
    cancels = []
    for person in subscribers:
        keeps = person.email == DEMO_SUBSCRIBER
        plan = plans[0] if keeps else rng.choices(plans, weights=weights)[0]
        moment = now - dt.timedelta(seconds=rng.uniform(0.1, 0.95) * days * 86400)
        subscription_id = _subscribe(person, plan, moment)
        report.add("subscriptions")
        when = moment + dt.timedelta(days=rng.randint(3, 45))
        if not keeps and rng.random() < 0.3 and when < now - dt.timedelta(minutes=5):
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
    _renew(report)
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


def _renew(report) -> None:
    run = subscriptions_renew_offline(actor_label="seed_demo")
    report.add("subscription renewals", run.renewals)
    report.add("subscriptions ended", run.ended)
