"""Erasure and live subscriptions (issue 19, finding 1): an erased customer cannot
sign in to cancel, so erasure is refused while Stripe still bills them, unless the
operator has them canceled in Stripe first; nothing is canceled when the erasure
would be refused for another reason."""

import pytest
from django.core.management import CommandError, call_command

from catalog.tests.factories import VariantFactory
from orders.tests.factories import place_order
from subscriptions.tests.factories import plan_variant, subscribe_offline

pytestmark = pytest.mark.django_db


def test_a_billed_customer_is_not_erased_until_their_subscription_ends(customer):
    subscription = subscribe_offline(customer=customer, variant=plan_variant())
    assert subscription.status == "active"
    with pytest.raises(CommandError, match="live subscriptions") as refused:
        call_command("anonymise_customer", customer.email)
    assert subscription.stripe_subscription_id in str(refused.value)
    assert "--cancel-subscriptions" in str(refused.value)
    customer.refresh_from_db()
    assert customer.is_active and "anonymised" not in customer.email


def test_cancel_subscriptions_ends_them_in_stripe_then_erases(customer, capsys):
    subscription = subscribe_offline(customer=customer, variant=plan_variant())
    call_command("anonymise_customer", customer.email, "--cancel-subscriptions")
    assert "subscriptions: 1 canceled in Stripe first" in capsys.readouterr().out
    subscription.refresh_from_db()
    assert subscription.status == "canceled" and subscription.ended_at is not None
    assert subscription.mrr_pennies == 0
    customer.refresh_from_db()
    assert customer.email.startswith("anonymised-") and not customer.is_active


def test_nothing_is_canceled_when_the_erasure_is_refused_for_another_reason(customer):
    subscription = subscribe_offline(customer=customer, variant=plan_variant())
    place_order(customer=customer, variants={VariantFactory(stock=3): 1})  # pending
    with pytest.raises(CommandError, match="open orders"):
        call_command("anonymise_customer", customer.email, "--cancel-subscriptions")
    subscription.refresh_from_db()
    assert subscription.status == "active"
