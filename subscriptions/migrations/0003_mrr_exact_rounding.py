"""Recompute stored MRR with exact arithmetic, rounded half up once per subscription.

Rows stored before kept a 28-digit "monthly" per item, so an exact half penny
(£9.99 fortnightly: 2164.5) was stored a penny low. Each subscription's items and
MRR are recomputed from its price fields; each change's MRR from the Stripe event it
came from (the inbox keeps every payload). MRR snapshots follow at the next rebuild,
which logs the changed days as restatements."""

from django.db import migrations

BATCH = 1000


def recompute(apps, schema_editor):
    # The rule itself, not a copy of it: this migration applies today's rule to
    # rows stored under the old one.
    from payments.stripe_fields import listed
    from subscriptions.services import _item, item_monthly, mrr_pennies

    Subscription = apps.get_model("subscriptions", "Subscription")
    SubscriptionChange = apps.get_model("subscriptions", "SubscriptionChange")
    StripeEvent = apps.get_model("payments", "StripeEvent")

    current = {}
    subscriptions = []
    for subscription in Subscription.objects.order_by("pk").iterator():
        items = [dict(item, monthly=str(item_monthly(item))) for item in subscription.items]
        subscription.items = items
        subscription.mrr_pennies = mrr_pennies(items, subscription.status)
        current[subscription.stripe_seen_event] = subscription.mrr_pennies
        subscriptions.append(subscription)
    for start in range(0, len(subscriptions), BATCH):
        Subscription.objects.bulk_update(
            subscriptions[start : start + BATCH], ["items", "mrr_pennies"]
        )

    changes = []
    for change in SubscriptionChange.objects.order_by("pk").iterator():
        payload = (
            StripeEvent.objects.filter(event_id=change.stripe_event_id)
            .values_list("payload", flat=True)
            .first()
        )
        obj = (payload or {}).get("data", {}).get("object")
        if isinstance(obj, dict):
            mrr = mrr_pennies([_item(i) for i in listed(obj, "items")], change.status)
        elif change.stripe_event_id in current:
            mrr = current[change.stripe_event_id]
        else:
            continue
        if mrr != change.mrr_pennies:
            change.mrr_pennies = mrr
            changes.append(change)
    for start in range(0, len(changes), BATCH):
        SubscriptionChange.objects.bulk_update(
            changes[start : start + BATCH], ["mrr_pennies"]
        )


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0001_initial"),
        ("subscriptions", "0002_subscription_variant_cancel_requested"),
    ]

    operations = [migrations.RunPython(recompute, migrations.RunPython.noop)]
