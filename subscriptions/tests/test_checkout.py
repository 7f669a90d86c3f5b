"""Subscribing at checkout: the product page, the Checkout Session in subscription
mode on both gateways, and the books Stripe's events leave behind."""

import datetime as dt
import json

import pytest
import stripe
from django.test import TestCase
from django.urls import resolve, reverse
from django.utils import timezone

from audit.models import AuditLog
from catalog.models import StockMovement
from catalog.selectors import stock_overview
from catalog.services.products import VariantSpec, product_create
from catalog.services.stock import stock_reserve, stock_sell
from catalog.tests.factories import VariantFactory
from core.exceptions import DomainError
from orders.services.cart import CustomerCart, cart_add
from payments.gateway import OfflineGateway, StripeGateway, period_end
from payments.models import Payment, StripeEvent
from payments.tests.test_stripe_gateway import RecordingHTTPClient
from subscriptions.checkout import subscription_checkout_start
from subscriptions.models import Subscription
from subscriptions.services import subscription_apply
from subscriptions.tests.factories import (
    offline_session,
    plan_variant,
    subscribe_offline,
)

pytestmark = pytest.mark.django_db


def _subscribe_through_the_pages(client, capture, variant):
    response = client.post(reverse("subscriptions:subscribe"), {"variant": variant.pk})
    assert response.status_code == 302
    checkout = response["Location"]
    page = client.get(checkout)
    assert page.status_code == 200
    assert b"Offline test payments" in page.content
    with capture(execute=True):
        done = client.post(checkout, {"action": "subscribe"})
    return checkout, done


# --- the storefront ------------------------------------------------------------------


def test_a_subscription_product_page_offers_subscribe_instead_of_add_to_cart(
    client, customer
):
    variant = plan_variant(name="Coffee Club", price_pennies=1200)
    url = variant.product.get_absolute_url()
    anonymous = client.get(url).content.decode()
    assert "£12.00 / month" in anonymous
    assert "Sign in to subscribe" in anonymous
    assert reverse("orders:cart_add") not in anonymous
    client.force_login(customer)
    page = client.get(url).content.decode()
    assert reverse("subscriptions:subscribe") in page
    assert ">Subscribe</button>" in page
    assert reverse("orders:cart_add") not in page
    assert "Out of stock" not in page and "Subscription" in page


def test_a_subscription_product_cannot_be_carted_and_holds_no_stock(customer):
    variant = plan_variant()
    with pytest.raises(DomainError, match="is a subscription"):
        cart_add(cart=CustomerCart(customer), variant_id=variant.pk)
    assert stock_reserve(holder="order:1", quantities={variant.pk: 1}) == []
    stock_sell(holder="order:1", quantities={variant.pk: 1})
    assert not StockMovement.objects.filter(variant=variant).exists()
    assert variant not in stock_overview()
    with pytest.raises(ValueError, match="holds no stock"):
        product_create(
            name="Tea Club",
            category=variant.product.category,
            price_pennies=900,
            billing_interval="month",
            variants=[VariantSpec(sku="TEA-SUB", stock=5)],
        )


# --- subscribing offline -------------------------------------------------------------


def test_subscribing_offline_records_an_active_subscription_and_its_payment(
    client, customer, django_capture_on_commit_callbacks
):
    variant = plan_variant(name="Coffee Club", price_pennies=1200)
    client.force_login(customer)
    before = timezone.now().replace(microsecond=0)
    checkout, done = _subscribe_through_the_pages(
        client, django_capture_on_commit_callbacks, variant
    )
    assert done["Location"].endswith(reverse("subscriptions:list") + "?subscribed=1")

    subscription = Subscription.objects.get()
    assert subscription.customer == customer
    assert subscription.variant == variant
    assert subscription.status == "active"
    assert subscription.mrr_pennies == 1200
    assert subscription.currency == "GBP"
    assert subscription.stripe_customer_id.startswith("cus_offline")
    assert subscription.current_period_start >= before
    assert subscription.current_period_end == dt.datetime.fromtimestamp(
        period_end(int(subscription.current_period_start.timestamp()), "month", 1, 1),
        tz=dt.UTC,
    )
    payment = Payment.objects.get()
    assert payment.source == Payment.Source.SUBSCRIPTION
    assert (payment.amount_pennies, payment.currency) == (1200, "GBP")
    assert payment.customer == customer and payment.order is None
    assert payment.paid_at == subscription.current_period_start
    assert set(StripeEvent.objects.values_list("type", "status")) == {
        ("checkout.session.completed", "processed"),
        ("customer.subscription.created", "processed"),
        ("invoice.paid", "processed"),
        ("charge.succeeded", "processed"),  # the invoice's charge and its fee
    }
    started = AuditLog.objects.get(event_type="subscription.checkout_started")
    assert started.actor == customer and started.metadata["interval"] == "month"
    # The finished checkout cannot be paid again.
    assert b"This checkout is complete" in client.get(checkout).content
    assert client.post(checkout, {"action": "subscribe"}).status_code == 200
    assert Payment.objects.count() == 1


def test_a_yearly_plan_counts_a_twelfth_of_its_price_as_mrr(customer):
    variant = plan_variant(interval="year", price_pennies=12000)
    subscription = subscribe_offline(customer=customer, variant=variant)
    assert subscription.mrr_pennies == 1000
    assert subscription.plan["interval"] == "year"
    assert (
        subscription.current_period_end.date()
        == subscription.current_period_start.date().replace(
            year=subscription.current_period_start.year + 1
        )
    )


def test_pressing_subscribe_twice_on_one_session_bills_once(customer):
    session = offline_session(customer=customer, variant=plan_variant())
    gateway = OfflineGateway()
    with TestCase.captureOnCommitCallbacks(execute=True):
        first = gateway.subscribe(session=session)
        second = gateway.subscribe(session=session)
    assert first == second
    assert Subscription.objects.count() == 1
    assert Payment.objects.count() == 1


def test_cancelling_the_offline_checkout_charges_nothing(client, customer):
    variant = plan_variant()
    client.force_login(customer)
    checkout = client.post(reverse("subscriptions:subscribe"), {"variant": variant.pk})[
        "Location"
    ]
    response = client.post(checkout, {"action": "cancel"})
    assert response["Location"].endswith(variant.product.get_absolute_url())
    assert not StripeEvent.objects.exists()


def test_a_customer_cannot_open_someone_elses_offline_checkout(
    client, customer, make_user
):
    variant = plan_variant()
    client.force_login(customer)
    checkout = client.post(reverse("subscriptions:subscribe"), {"variant": variant.pk})[
        "Location"
    ]
    client.force_login(make_user("customer"))
    assert client.get(checkout).status_code == 404
    assert client.get(checkout[:-3] + "xx/").status_code == 404  # forged


def test_subscribing_again_to_a_product_already_subscribed_is_refused(customer):
    variant = plan_variant(name="Coffee Club")
    subscribe_offline(customer=customer, variant=variant)
    with pytest.raises(DomainError, match="already subscribe to Coffee Club"):
        subscription_checkout_start(
            customer=customer, variant=variant, success_url="/", cancel_url="/"
        )


def test_only_a_subscription_product_can_be_subscribed_to(client, customer):
    one_off = VariantFactory(stock=3)
    with pytest.raises(DomainError, match="not a subscription"):
        subscription_checkout_start(
            customer=customer, variant=one_off, success_url="/", cancel_url="/"
        )
    client.force_login(customer)
    response = client.post(reverse("subscriptions:subscribe"), {"variant": one_off.pk})
    assert response["Location"] == reverse("catalog:product_list")
    assert not AuditLog.objects.filter(
        event_type="subscription.checkout_started"
    ).exists()


def test_a_returning_subscriber_keeps_their_stripe_customer(customer):
    first = subscribe_offline(customer=customer, variant=plan_variant())
    second = subscribe_offline(customer=customer, variant=plan_variant())
    assert first.stripe_customer_id == second.stripe_customer_id
    assert first.stripe_subscription_id != second.stripe_subscription_id


# --- linking Stripe's subscription to our customer -----------------------------------


def _subscription_event(event_id, *, metadata, created=1780000000):
    return {
        "id": event_id,
        "object": "event",
        "type": "customer.subscription.updated",
        "created": created,
        "data": {
            "object": {
                "id": "sub_linked",
                "object": "subscription",
                "customer": "cus_elsewhere",
                "status": "active",
                "metadata": metadata,
                "items": {
                    "data": [
                        {
                            "id": "si_1",
                            "price": {
                                "id": "price_1",
                                "unit_amount": 900,
                                "currency": "gbp",
                                "recurring": {"interval": "month"},
                            },
                            "quantity": 1,
                        }
                    ]
                },
            }
        },
    }


def test_subscription_metadata_names_the_customer_whatever_their_email(make_user):
    shopper = make_user("customer", email="shop@example.com")
    variant = plan_variant()
    subscription = subscription_apply(
        _subscription_event(
            "evt_1",
            metadata={"user_id": str(shopper.pk), "variant_id": str(variant.pk)},
        )
    )
    assert (subscription.customer, subscription.variant) == (shopper, variant)


def test_metadata_links_a_row_made_before_it_arrived_and_never_relinks(make_user):
    first, other = make_user("customer"), make_user("customer")
    subscription = subscription_apply(_subscription_event("evt_1", metadata={}))
    assert subscription.customer is None
    subscription_apply(
        _subscription_event(
            "evt_0", metadata={"user_id": str(first.pk)}, created=1770000000
        )
    )  # older, so its state is not applied, but it names the customer
    subscription_apply(
        _subscription_event("evt_2", metadata={"user_id": str(other.pk)})
    )
    subscription.refresh_from_db()
    assert subscription.customer == first
    assert subscription.stripe_seen_event == "evt_2"


# --- the real gateway ----------------------------------------------------------------


@pytest.fixture
def stripe_settings(settings):
    settings.PAYMENTS_USE_STRIPE = True
    settings.STRIPE_SECRET_KEY = "sk_test_123"
    settings.STRIPE_API_VERSION = "2025-03-31.basil"
    return settings


def _session_answer():
    return (
        200,
        {
            "id": "cs_test_sub1",
            "object": "checkout.session",
            "url": "https://checkout.stripe.com/c/pay/cs_test_sub1",
        },
    )


def test_stripe_subscription_session_carries_the_plan_and_the_customer(
    stripe_settings, customer, monkeypatch
):
    variant = plan_variant(name="Coffee Club", price_pennies=1200)
    http = RecordingHTTPClient([_session_answer()])
    monkeypatch.setattr(
        "subscriptions.checkout.get_gateway",
        lambda: StripeGateway(http_client=http),
    )
    session = subscription_checkout_start(
        customer=customer,
        variant=variant,
        success_url="https://shop/ok",
        cancel_url="https://shop/no",
    )
    assert session.url == "https://checkout.stripe.com/c/pay/cs_test_sub1"
    sent = http.requests[0]
    assert sent["url"].endswith("/v1/checkout/sessions")
    assert sent["headers"]["Idempotency-Key"] == (
        f"subscribe-{customer.pk}-{variant.pk}-0"
    )
    form = sent["form"]
    assert form["mode"] == ["subscription"]
    assert form["line_items[0][quantity]"] == ["1"]
    assert form["line_items[0][price_data][currency]"] == ["gbp"]
    assert form["line_items[0][price_data][unit_amount]"] == ["1200"]
    assert form["line_items[0][price_data][recurring][interval]"] == ["month"]
    assert form["line_items[0][price_data][product_data][name]"] == ["Coffee Club"]
    assert form["customer_email"] == [customer.email]
    assert "customer" not in form
    assert form["client_reference_id"] == [str(customer.pk)]
    assert form["metadata[user_id]"] == [str(customer.pk)]
    assert form["metadata[variant_id]"] == [str(variant.pk)]
    assert form["subscription_data[metadata][user_id]"] == [str(customer.pk)]
    assert form["subscription_data[metadata][variant_id]"] == [str(variant.pk)]
    assert form["success_url"] == ["https://shop/ok"]
    assert form["cancel_url"] == ["https://shop/no"]
    assert "payment_intent_data[metadata][order_id]" not in form


def test_stripe_session_for_a_returning_subscriber_names_their_customer(
    stripe_settings, customer, monkeypatch
):
    Subscription.objects.create(
        stripe_subscription_id="sub_old",
        stripe_customer_id="cus_known",
        customer=customer,
        status="canceled",
        stripe_seen_at=timezone.now(),
        stripe_seen_event="evt_old",
    )
    http = RecordingHTTPClient([_session_answer()])
    monkeypatch.setattr(
        "subscriptions.checkout.get_gateway",
        lambda: StripeGateway(http_client=http),
    )
    subscription_checkout_start(
        customer=customer, variant=plan_variant(), success_url="/", cancel_url="/"
    )
    form = http.requests[0]["form"]
    assert form["customer"] == ["cus_known"]
    assert "customer_email" not in form


def test_a_stripe_error_opening_the_session_is_said_plainly(
    stripe_settings, customer, monkeypatch
):
    class Refusing:
        def create_subscription_checkout(self, **kwargs):
            raise stripe.APIConnectionError("network down")

    monkeypatch.setattr("subscriptions.checkout.get_gateway", Refusing)
    with pytest.raises(DomainError, match="could not be opened: network down"):
        subscription_checkout_start(
            customer=customer, variant=plan_variant(), success_url="/", cancel_url="/"
        )
    assert not AuditLog.objects.filter(
        event_type="subscription.checkout_started"
    ).exists()


def test_the_offline_checkout_url_carries_no_personal_data(client, customer):
    variant = plan_variant()
    session = OfflineGateway().create_subscription_checkout(
        customer=customer,
        variant=variant,
        success_url="/ok",
        cancel_url="/no",
        idempotency_key="no-pii",
    )
    token = resolve(session.url).kwargs["token"]
    held = OfflineGateway.subscription_session(token)
    assert customer.email not in json.dumps(held)
    assert customer.email.split("@")[0] not in session.url
    client.force_login(customer)
    page = client.get(session.url).content.decode()
    assert customer.email in page  # shown from the account, not the URL
