"""Starting a subscription: a Checkout Session in subscription mode.

Nothing is written for the subscription itself here: Stripe's events
(customer.subscription.created, invoice.paid) record it and its first payment.
"""

import stripe
from django.db import transaction

from audit.models import AuditLog
from audit.services import audit_record
from catalog.models import Variant
from core.exceptions import DomainError
from payments.gateway import CheckoutSession, get_gateway
from subscriptions.models import LIVE_STATUSES, Subscription

STARTED = "subscription.checkout_started"


def subscription_checkout_start(
    *, customer, variant: Variant, success_url: str, cancel_url: str
) -> CheckoutSession:
    """Open a subscription Checkout Session for a subscription product's variant.

    Refuses a variant that is not a subscription for sale and a product the customer
    already subscribes to. Each attempt gets its own session (and idempotency key).
    A returning subscriber keeps their Stripe customer. Writes an audit row once
    Stripe has answered.
    """
    variant = (
        Variant.objects.select_related("product")
        .filter(pk=variant.pk, active=True, product__active=True)
        .first()
    )
    if variant is None or not variant.product.is_subscription:
        raise DomainError("That is not a subscription you can start.")
    mine = Subscription.objects.filter(customer=customer)
    if mine.filter(variant__product=variant.product, status__in=LIVE_STATUSES).exists():
        raise DomainError(
            f"You already subscribe to {variant.product.name}: "
            "see Subscriptions in your account."
        )
    # The attempt counts the starts already audited, so nothing needs recording
    # before Stripe is asked: if the audit row below is lost (a crash after Stripe
    # answered), the next start sends the same idempotency key and Stripe answers
    # with the same session. No transaction is held open across the call.
    attempt = AuditLog.objects.filter(
        event_type=STARTED,
        actor=customer,
        target_type=variant._meta.label_lower,
        target_id=str(variant.pk),
    ).count()
    stripe_customer_id = (
        mine.exclude(stripe_customer_id="")
        .order_by("-stripe_seen_at")
        .values_list("stripe_customer_id", flat=True)
        .first()
    )
    try:
        session = get_gateway().create_subscription_checkout(
            customer=customer,
            variant=variant,
            success_url=success_url,
            cancel_url=cancel_url,
            idempotency_key=f"subscribe-{customer.pk}-{variant.pk}-{attempt}",
            stripe_customer_id=stripe_customer_id or "",
        )
    except stripe.StripeError as exc:
        raise DomainError(
            f"The payment page could not be opened: {exc.user_message or exc}. "
            "Try again in a moment."
        ) from exc
    with transaction.atomic(durable=True):
        audit_record(
            event_type=STARTED,
            actor=customer,
            target=variant,
            metadata={
                "session": session.id,
                "sku": variant.sku,
                "unit_amount_pennies": variant.price_pennies,
                "interval": variant.product.billing_interval,
            },
        )
    return session
