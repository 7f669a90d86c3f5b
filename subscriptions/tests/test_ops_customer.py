"""The ops customer page: orders, money, subscriptions and lifetime value."""

import pytest
from django.urls import reverse

from accounts.tests.factories import UserFactory
from catalog.tests.factories import VariantFactory
from orders.tests.factories import place_order
from payments.tests.events import dispute_event, intent_succeeded, post, refund_event
from subscriptions.models import Subscription
from subscriptions.ops_customer import customer_lifetime

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(client, customer):
    """Two paid orders (£10 refunded on one, £15 withdrawn by a dispute on the
    other) and a pending one."""
    variant = VariantFactory(stock=20)
    first = place_order(customer=customer, variants={variant: 2})
    post(client, intent_succeeded(first, pi="pi_a", charge="ch_a"))
    second = place_order(customer=customer, variants={variant: 1})
    post(client, intent_succeeded(second, pi="pi_b", charge="ch_b"))
    post(client, refund_event("re_a", 1000, charge="ch_a", pi="pi_a"))
    post(client, dispute_event("dp_b", 1500, charge="ch_b"))
    post(
        client,
        dispute_event(
            "dp_b",
            1500,
            charge="ch_b",
            event_type="charge.dispute.funds_withdrawn",
            withdrawn=1500,
        ),
    )
    pending = place_order(customer=customer, variants={variant: 1})
    for order in (first, second, pending):
        order.refresh_from_db()
    return first, second, pending


def test_lifetime_value_is_payments_less_refunds_and_dispute_losses(customer, history):
    first, second, _ = history
    life = customer_lifetime(customer)
    paid = first.total_pennies + second.total_pennies
    assert (life.paid_pennies, life.refunded_pennies) == (paid, 1000)
    assert life.dispute_loss_pennies == 1500
    assert life.net_pennies == paid - 1000 - 1500
    assert life.paid_orders == 2  # the pending order is not paid


def test_another_customers_money_never_counts(client, customer, history):
    other = UserFactory(roles=["customer"])
    assert customer_lifetime(other).paid_pennies == 0
    assert customer_lifetime(other).paid_orders == 0


def test_the_page_lists_the_history_and_is_linked_from_the_order(
    client, ops_user, customer, history, django_assert_max_num_queries
):
    first, second, pending = history
    Subscription.objects.create(
        stripe_subscription_id="sub_1",
        customer=customer,
        status="active",
        currency="GBP",
        mrr_pennies=900,
        stripe_seen_at=first.created_at,
        stripe_seen_event="evt_x",
    )
    client.force_login(ops_user)
    url = reverse("customers_ops:customer", args=[customer.pk])
    order_page = client.get(reverse("ops:order_detail", args=[first.number]))
    assert f'href="{url}"' in order_page.content.decode()
    with django_assert_max_num_queries(20):
        page = client.get(url).content.decode()
    for order in (first, second, pending):
        assert order.number in page
    assert "Orders (3)" in page
    assert "£10.00" in page and "£15.00" in page  # the refund and the dispute
    assert "£9.00 a month" in page
    assert ">needs_response<" in page


def test_an_unknown_customer_is_a_404(client, ops_user):
    client.force_login(ops_user)
    response = client.get(reverse("customers_ops:customer", args=[999_999]))
    assert response.status_code == 404


def test_a_customer_cannot_open_the_page(client, customer):
    client.force_login(customer)
    response = client.get(reverse("customers_ops:customer", args=[customer.pk]))
    assert response.status_code == 403
