"""Changes asked of Stripe Billing: a customer's cancellation at period end, and
(offline payments only) the renewals Stripe itself would make at each period end.

Neither writes the subscription's state: Stripe's events do, through the webhook.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import stripe
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from core.exceptions import DomainError
from payments.gateway import OfflineGateway, get_gateway
from subscriptions.models import Subscription

Status = Subscription.Status
RENEWING = [Status.TRIALING, Status.ACTIVE, Status.PAST_DUE]
OFFLINE_PREFIX = "sub_offline"


def subscription_cancel_at_period_end(
    *, subscription: Subscription, actor
) -> Subscription:
    """Ask Stripe to end the subscription when its paid period ends.

    The subscription shows the cancellation as pending until Stripe's
    customer.subscription.updated confirms it (offline: delivered after commit);
    asking again while pending or confirmed changes nothing. Once Stripe has
    answered, writes `cancel_requested_at` and an audit row.
    """
    subscription = Subscription.objects.get(pk=subscription.pk)
    if not subscription.is_live:
        raise DomainError("This subscription has already ended.")
    if subscription.cancel_at_period_end or subscription.cancel_pending:
        return subscription
    # Nothing is recorded before Stripe is asked: shown as pending, a request
    # that never reached Stripe (a crash, a refusal) would tell the customer
    # their subscription ends when it does not. Asking twice is harmless, as
    # Stripe sets cancel_at_period_end either way.
    try:
        get_gateway().cancel_subscription_at_period_end(
            subscription_id=subscription.stripe_subscription_id
        )
    except stripe.StripeError as exc:
        raise DomainError(
            f"Stripe refused the cancellation: {exc.user_message or exc}"
        ) from exc
    return _cancel_requested(subscription=subscription, actor=actor)


def _cancel_requested(*, subscription: Subscription, actor) -> Subscription:
    """Record that Stripe accepted the cancellation; its event may be in already.

    Writes `cancel_requested_at` and an audit row.
    """
    with transaction.atomic(durable=True):
        subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
        subscription.cancel_requested_at = timezone.now()
        subscription.save(update_fields=["cancel_requested_at", "updated_at"])
        audit_record(
            event_type="subscription.cancel_requested",
            actor=actor,
            target=subscription,
            metadata={
                "subscription": subscription.stripe_subscription_id,
                "period_end": subscription.current_period_end.isoformat()
                if subscription.current_period_end
                else None,
            },
        )
    return subscription


@dataclass
class RenewalRun:
    at: dt.datetime
    subscriptions: int = 0  # due ones looked at
    renewals: int = 0  # periods billed
    ended: int = 0


@transaction.atomic(durable=True)
def subscriptions_renew_offline(
    *,
    at: dt.datetime | None = None,
    actor_label: str = "system",
    progress: Callable[[str], None] | None = None,
) -> RenewalRun:
    """Offline payments only: what Stripe does at period ends, up to `at` (default
    and at most: now), for every offline subscription still billing whose period
    has ended: a renewal (invoice.paid and customer.subscription.updated) for each
    period that began by then, or customer.subscription.deleted for one set to
    cancel at period end.

    The events are delivered after commit, through the webhook pipeline; a repeated
    run repeats the same invoices, so nothing is billed twice. Writes an audit row.
    Raises DomainError when Stripe is the gateway (Stripe renews real subscriptions).
    """
    if not isinstance(get_gateway(), OfflineGateway):
        raise DomainError(
            "Renewals are Stripe's to make: this works only with offline payments "
            "(PAYMENTS_USE_STRIPE=0)."
        )
    now = timezone.now()
    run = RenewalRun(at=min(at or now, now))
    until = int(run.at.timestamp())
    gateway = OfflineGateway()
    due = (
        Subscription.objects.filter(
            stripe_subscription_id__startswith=OFFLINE_PREFIX,
            status__in=RENEWING,
            current_period_end__lte=run.at,
        )
        .select_related("customer")
        .order_by("current_period_end", "pk")
    )
    for subscription in due:
        events = gateway.renew_subscription(
            subscription_id=subscription.stripe_subscription_id,
            until=until,
            customer_email=subscription.customer.email if subscription.customer else "",
        )
        renewals = sum(e["type"] == "invoice.paid" for e in events)
        ended = any(e["type"] == "customer.subscription.deleted" for e in events)
        run.subscriptions += 1
        run.renewals += renewals
        run.ended += ended
        if progress is not None:
            progress(
                f"{subscription.stripe_subscription_id}: "
                + ("ended" if ended else f"{renewals} renewal(s)")
            )
    audit_record(
        event_type="subscriptions.renewed_offline",
        actor_label=actor_label,
        metadata={
            "at": run.at.isoformat(),
            "subscriptions": run.subscriptions,
            "renewals": run.renewals,
            "ended": run.ended,
        },
    )
    return run
