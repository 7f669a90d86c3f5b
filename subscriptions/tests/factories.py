"""Subscription products, and customers subscribed to them through the offline
Stripe pipeline (checkout, then the events Stripe would send)."""

from django.test import TestCase
from django.urls import resolve

from catalog.tests.factories import ProductFactory, VariantFactory
from payments.gateway import OfflineGateway
from subscriptions.checkout import subscription_checkout_start
from subscriptions.models import Subscription


def plan_variant(*, interval="month", price_pennies=1200, name=None):
    """The one variant of a subscription product."""
    product = ProductFactory(
        billing_interval=interval,
        price_pennies=price_pennies,
        **({"name": name} if name else {}),
    )
    return VariantFactory(product=product, option_values={})


def offline_session(*, customer, variant) -> dict:
    """Start a subscription checkout; the offline session its URL holds."""
    session = subscription_checkout_start(
        customer=customer, variant=variant, success_url="/", cancel_url="/"
    )
    return OfflineGateway.subscription_session(resolve(session.url).kwargs["token"])


def subscribe_offline(*, customer, variant) -> Subscription:
    """Check out and press Subscribe; Stripe's events are delivered at once."""
    session = offline_session(customer=customer, variant=variant)
    with TestCase.captureOnCommitCallbacks(execute=True):
        subscription_id = OfflineGateway().subscribe(session=session)
    return Subscription.objects.get(stripe_subscription_id=subscription_id)
