"""Stored MRR from before exact rounding is recomputed by the data migration."""

import datetime as dt
import importlib

import pytest
from django.apps import apps

from payments.models import StripeEvent
from subscriptions.models import Subscription, SubscriptionChange

pytestmark = pytest.mark.django_db
migration = importlib.import_module("subscriptions.migrations.0003_mrr_exact_rounding")
AT = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
FORTNIGHTLY = {"unit_amount": 999, "currency": "gbp",
               "recurring": {"interval": "week", "interval_count": 2}}  # fmt: skip


def old_item():
    """An item as stored before: a 28-digit monthly amount, a penny low."""
    return {"id": "si_1", "price": "price_1", "product": "", "unit_amount": 999,
            "interval": "week", "interval_count": 2, "quantity": 1, "currency": "GBP",
            "monthly": "2164.499999999999999999999999", "period_start": None,
            "period_end": None}  # fmt: skip


def test_the_migration_recomputes_subscriptions_and_their_changes():
    subscription = Subscription.objects.create(
        stripe_subscription_id="sub_1", status="active", currency="GBP",
        items=[old_item()], mrr_pennies=2164, stripe_seen_at=AT,
        stripe_seen_event="evt_2",
    )  # fmt: skip
    StripeEvent.objects.create(
        event_id="evt_1", type="customer.subscription.created", stripe_created=AT,
        payload={"data": {"object": {"id": "sub_1", "items": {"data": [
            {"price": FORTNIGHTLY, "quantity": 3}]}}}},
    )  # fmt: skip
    for event_id, mrr in (("evt_1", 6493), ("evt_2", 2164), ("evt_3", 777)):
        SubscriptionChange.objects.create(
            subscription=subscription, stripe_event_id=event_id, at=AT,
            event_type="customer.subscription.updated", status="active",
            mrr_pennies=mrr,
        )  # fmt: skip

    migration.recompute(apps, None)

    subscription.refresh_from_db()
    assert subscription.mrr_pennies == 2165
    assert subscription.items[0]["monthly"] == "4329/2"
    changes = dict(SubscriptionChange.objects.values_list("stripe_event_id",
                                                          "mrr_pennies"))  # fmt: skip
    # From its event (3 x 2164.5 = 6493.5), from the row it left, unknown: kept.
    assert changes == {"evt_1": 6494, "evt_2": 2165, "evt_3": 777}
