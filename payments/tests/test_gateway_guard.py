"""No call on Stripe inside a database transaction of ours, on either gateway."""

import pytest
import stripe
from django.db import connection, transaction

from catalog.tests.factories import VariantFactory
from orders.tests.factories import place_order
from payments.gateway import (
    Gateway,
    NetworkCallInTransaction,
    OfflineGateway,
    StripeGateway,
)
from payments.tests.test_stripe_gateway import RecordingHTTPClient

pytestmark = pytest.mark.django_db

CALLS = sorted(name for name in vars(Gateway) if not name.startswith("_"))
EXPIRED = (200, {"id": "cs_test_1", "object": "checkout.session", "url": None})


@pytest.fixture
def stripe_settings(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_123"
    settings.STRIPE_API_VERSION = "2025-03-31.basil"
    settings.STRIPE_API_BASE = "https://api.stripe.com"
    return settings


def test_the_interface_names_every_call_our_code_makes_on_stripe():
    assert CALLS == [
        "cancel_subscription_at_period_end",
        "cancel_subscription_now",
        "create_checkout_session",
        "create_refund",
        "create_subscription_checkout",
        "expire_checkout_session",
    ]


@pytest.mark.parametrize("gateway_class", [StripeGateway, OfflineGateway])
@pytest.mark.parametrize("call", CALLS)
def test_every_call_on_either_gateway_is_refused_inside_a_transaction(
    stripe_settings, gateway_class, call
):
    method = getattr(gateway_class(), call)
    with (
        transaction.atomic(),
        pytest.raises(
            NetworkCallInTransaction,
            match=rf"^{gateway_class.__name__}\.{call} calls Stripe inside a "
            r"database transaction \(on 'default'\)\. Record the intent",
        ),
    ):
        method()  # the guard runs before the arguments are even bound


def _refused_inside_a_transaction_and_sent_outside():
    http = RecordingHTTPClient([EXPIRED])
    gateway = StripeGateway(http_client=http)
    with transaction.atomic(), pytest.raises(NetworkCallInTransaction):
        gateway.expire_checkout_session(session_id="cs_test_1")
    assert http.requests == []  # refused before anything was sent
    gateway.expire_checkout_session(session_id="cs_test_1")
    assert [r["url"] for r in http.requests] == [
        "https://api.stripe.com/v1/checkout/sessions/cs_test_1/expire"
    ]


def test_the_transaction_around_a_django_db_test_is_not_ours(stripe_settings):
    assert connection.in_atomic_block  # pytest-django's, rolled back after the test
    _refused_inside_a_transaction_and_sent_outside()


@pytest.mark.django_db(transaction=True)
def test_without_a_test_transaction_only_our_own_is_refused(stripe_settings):
    assert not connection.in_atomic_block
    _refused_inside_a_transaction_and_sent_outside()


@pytest.mark.django_db(transaction=True)
def test_an_offline_checkout_opens_outside_a_transaction_and_not_inside(customer):
    order = place_order(customer=customer, variants={VariantFactory(stock=5): 1})
    gateway = OfflineGateway()
    checkout = {"order": order, "success_url": "/", "cancel_url": "/", "attempt": 0}
    with (
        transaction.atomic(durable=True),
        pytest.raises(
            NetworkCallInTransaction, match=r"OfflineGateway\.create_checkout_session"
        ),
    ):
        gateway.create_checkout_session(**checkout)
    assert gateway.create_checkout_session(**checkout).id.startswith("cs_test_offline")


def test_what_stripe_itself_does_offline_is_not_refused(customer):
    """Paying, declining, disputing, subscribing and renewing are Stripe's acts,
    not calls of ours; their events go out when the transaction commits."""
    order = place_order(customer=customer, variants={VariantFactory(stock=5): 1})
    gateway = OfflineGateway()
    session = {
        "id": "cs_test_sub",
        "customer": "cus_1",
        "customer_email": customer.email,
        "unit_amount": 1200,
        "currency": "gbp",
        "interval": "month",
        "metadata": {"user_id": str(customer.pk), "variant_id": "1"},
    }
    with transaction.atomic():
        gateway.pay(order=order, session_id="cs_test_1", decline=True)
        gateway.pay(order=order, session_id="cs_test_1")
        gateway.open_dispute(charge="ch_1", amount_pennies=100, currency="GBP")
        assert gateway.subscribe(session=session).startswith("sub_offline")
        with pytest.raises(stripe.InvalidRequestError, match="No such subscription"):
            gateway.renew_subscription(subscription_id="sub_unknown", until=0)
