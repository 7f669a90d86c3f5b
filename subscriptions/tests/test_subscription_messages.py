"""A subscriber's emails through the offline Stripe pipeline and a real SMTP
server: a renewal receipt (not for the first invoice), a failed payment with a
link back, the cancellation; each once however often Stripe repeats itself."""

import time

import pytest
from django.test import TestCase

from core.models import Message
from payments.gateway import OfflineGateway
from payments.tests.events import envelope, post
from subscriptions.tests.factories import plan_variant, subscribe_offline

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscription(smtp, customer):
    variant = plan_variant(price_pennies=1200, name="Monthly Lake Box")
    return subscribe_offline(customer=customer, variant=variant)


def _failed_invoice(subscription, *, attempt=1, action=False):
    invoice = {
        "id": "in_failed1",
        "object": "invoice",
        "customer": subscription.stripe_customer_id,
        "currency": "gbp",
        "amount_due": 1200,
        "attempt_count": attempt,
        "billing_reason": "subscription_cycle",
        "next_payment_attempt": 1_790_000_000,
        "hosted_invoice_url": "https://invoice.stripe.com/i/test",
        "parent": {
            "type": "subscription_details",
            "subscription_details": {
                "subscription": subscription.stripe_subscription_id
            },
        },
    }
    if action:
        invoice["payment_intent"] = {"id": "pi_sca", "status": "requires_action"}
    return envelope("invoice.payment_failed", invoice)


def test_the_first_invoice_sends_no_renewal_receipt(subscription, smtp):
    assert subscription.status == "active"
    assert smtp.received == []


def test_a_renewal_sends_a_receipt_once(subscription, smtp, customer):
    gateway = OfflineGateway()
    until = int(subscription.current_period_end.timestamp())
    with TestCase.captureOnCommitCallbacks(execute=True):
        gateway.renew_subscription(
            subscription_id=subscription.stripe_subscription_id, until=until
        )
    with TestCase.captureOnCommitCallbacks(execute=True):
        gateway.renew_subscription(  # a repeated run repeats the same invoice
            subscription_id=subscription.stripe_subscription_id, until=until
        )
    [receipt] = smtp.to(customer.email)
    assert receipt["Subject"].strip() == (
        "Receipt: your Monthly Lake Box subscription renewed (£12.00)"
    )
    text, html = smtp.parts(receipt)
    assert "we took £12.00" in text
    assert "https://shop.example.com/account/subscriptions/" in text
    assert "Your subscription renewed" in html
    row = Message.objects.get(kind="subscription_renewal")
    assert (row.target_type, row.target_id) == ("subscription", str(subscription.pk))


def test_a_failed_payment_asks_the_customer_to_act_once_per_attempt(
    client, subscription, smtp, customer, django_capture_on_commit_callbacks
):
    first = _failed_invoice(subscription, attempt=1)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, first)
        post(client, first)  # delivered again
        post(client, _failed_invoice(subscription, attempt=2, action=True))
    failed, confirm = smtp.to(customer.email)
    assert failed["Subject"].strip() == "Your subscription payment failed"
    text, _ = smtp.parts(failed)
    assert "we could not take the payment of £12.00" in text
    assert "Monthly Lake Box" in text
    assert "https://shop.example.com/account/subscriptions/" in text
    assert "https://invoice.stripe.com/i/test" in text
    assert confirm["Subject"].strip() == "Please confirm your subscription payment"
    assert "your bank asks you to confirm" in smtp.parts(confirm)[0]
    assert Message.objects.filter(kind="subscription_payment_failed").count() == 2


def test_a_cancellation_is_confirmed_once(subscription, smtp, customer):
    gateway = OfflineGateway()
    with TestCase.captureOnCommitCallbacks(execute=True):
        gateway.cancel_subscription_now(
            subscription_id=subscription.stripe_subscription_id
        )
    with TestCase.captureOnCommitCallbacks(execute=True):
        gateway.renew_subscription(
            subscription_id=subscription.stripe_subscription_id,
            until=int(time.time()) + 86400 * 90,
        )
    [canceled] = smtp.to(customer.email)
    assert canceled["Subject"].strip() == (
        "Your Monthly Lake Box subscription is canceled"
    )
    assert "You will not be charged for it again" in smtp.parts(canceled)[0]
