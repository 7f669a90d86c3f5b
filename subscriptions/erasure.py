"""A customer's live subscriptions and their erasure (issue 19): an erased person
cannot sign in to cancel, so erasure waits until Stripe stops billing them, or
cancels them first when asked. Registered into payments' erasure at start-up."""

import time

from payments.gateway import get_gateway
from subscriptions.models import Subscription
from subscriptions.services import subscription_apply

# Stripe still bills (or may bill again) a subscription in these states.
LIVE = ("incomplete", "trialing", "active", "past_due", "unpaid", "paused")


def live_subscriptions(user):
    return Subscription.objects.filter(customer=user, status__in=LIVE).order_by("pk")


def erasure_refusal(user) -> str:
    """Why `user` may not be erased while billed, or ""."""
    ids = list(
        live_subscriptions(user).values_list("stripe_subscription_id", flat=True)
    )
    if not ids:
        return ""
    return (
        f"user #{user.pk} has live subscriptions ({', '.join(ids)}): cancel them in "
        "Stripe first, or run with --cancel-subscriptions"
    )


def erasure_cancel(user) -> int:
    """Cancel every live subscription of `user` at Stripe now (outside any
    transaction) and apply Stripe's answer as its webhook would. Returns how many."""
    gateway = get_gateway()
    canceled = 0
    for subscription in list(live_subscriptions(user)):
        obj = gateway.cancel_subscription_now(
            subscription_id=subscription.stripe_subscription_id
        )
        at = obj.get("canceled_at") or int(time.time())
        subscription_apply(
            {
                "id": f"evt_erasure_{obj['id']}",
                "type": "customer.subscription.deleted",
                "created": at,
                "data": {"object": obj},
            }
        )
        canceled += 1
    return canceled
