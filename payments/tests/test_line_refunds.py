"""Refunds by line and shipping (docs/refund_policy.md, "Refunds by line")."""

import pytest
from django.urls import reverse

from catalog.tests.factories import VariantFactory
from core.exceptions import DomainError
from orders.tests.factories import place_order
from payments.models import Refund, RefundRequest
from payments.services.refunds import (
    line_refund_value,
    lines_refunded,
    refund_issue,
)
from payments.tests.events import intent_succeeded, post, refund_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid(client, customer):
    """Two lines: 2 × a 1500 variant and 1 × a 700 variant, shipping 395."""
    big = VariantFactory(stock=10, product__price_pennies=1500)
    small = VariantFactory(stock=10, product__price_pennies=700)
    order = place_order(customer=customer, variants={big: 2, small: 1})
    post(client, intent_succeeded(order))
    order.refresh_from_db()
    assert order.status == "paid" and order.shipping_pennies > 0
    return order, big, small


def _by_line(order, actor, key, lines, shipping=False, amount=None):
    worth = line_refund_value(order, lines, shipping)
    return refund_issue(
        order=order,
        amount_pennies=amount if amount is not None else worth,
        reason="",
        restock={},
        actor=actor,
        idempotency_key=key,
        lines=lines,
        shipping=shipping,
    )


def test_the_value_of_lines_is_units_at_the_price_paid_plus_shipping(paid):
    order, big, small = paid
    assert line_refund_value(order, {big.pk: 1}, False) == 1500
    assert line_refund_value(order, {big.pk: 2, small.pk: 1}, False) == 3700
    assert line_refund_value(order, {small.pk: 1}, True) == 700 + order.shipping_pennies
    assert line_refund_value(order, {}, True) == order.shipping_pennies


def test_a_line_cannot_be_refunded_beyond_what_was_bought_less_earlier_refunds(
    paid, ops_user
):
    order, big, _ = paid
    with pytest.raises(DomainError, match="2 of 2 can still be refunded; you chose 3"):
        line_refund_value(order, {big.pk: 3}, False)
    _by_line(order, ops_user, "k1", {big.pk: 1})
    assert lines_refunded(order).units == {big.pk: 1}
    with pytest.raises(DomainError, match="1 of 2 can still be refunded; you chose 2"):
        _by_line(order, ops_user, "k2", {big.pk: 2})
    assert RefundRequest.objects.filter(order=order).count() == 1


def test_shipping_is_refunded_once(paid, ops_user):
    order, _, small = paid
    _by_line(order, ops_user, "k1", {}, shipping=True)
    assert lines_refunded(order).shipping is True
    with pytest.raises(DomainError, match="already been refunded"):
        _by_line(order, ops_user, "k2", {small.pk: 1}, shipping=True)


def test_the_amount_of_a_line_refund_may_go_down_never_up(paid, ops_user):
    order, big, _ = paid
    with pytest.raises(DomainError, match=r"come to £15\.00; you asked for £15\.01"):
        _by_line(order, ops_user, "k1", {big.pk: 1}, amount=1501)
    refund = _by_line(order, ops_user, "k2", {big.pk: 1}, amount=1200)
    assert refund.amount_pennies == 1200
    request = RefundRequest.objects.get(idempotency_key="k2")
    assert (request.lines, request.shipping_pennies) == ({str(big.pk): 1}, 0)


def test_a_failed_line_refund_gives_its_units_back(client, paid, ops_user):
    order, big, _ = paid
    refund = _by_line(order, ops_user, "k1", {big.pk: 2})
    assert lines_refunded(order).units == {big.pk: 2}
    later = int(refund.status_at.timestamp()) + 60
    post(
        client,
        refund_event(
            refund.stripe_refund_id,
            3000,
            status="failed",
            created=later,
            event_type="refund.updated",
        ),
    )
    assert Refund.objects.get(pk=refund.pk).status == "failed"
    assert lines_refunded(order).units == {}
    assert line_refund_value(order, {big.pk: 2}, False) == 3000


def test_the_ops_form_refunds_one_line_and_shipping_after_confirming(
    client, paid, ops_user, django_capture_on_commit_callbacks
):
    order, big, small = paid
    client.force_login(ops_user)
    url = reverse("payments_ops:refund", args=[order.number])
    page = client.get(reverse("ops:order_detail", args=[order.number])).content.decode()
    assert f'name="refund_{big.pk}"' in page and 'name="refund_shipping"' in page
    fields = {
        "idempotency_key": "form-1",
        "amount": "",
        f"refund_{small.pk}": "1",
        "refund_shipping": "on",
        f"restock_{small.pk}": "1",
    }
    asked = client.post(url, fields).content.decode()
    total = 700 + order.shipping_pennies
    shipping = f"£{order.shipping_pennies // 100}.{order.shipping_pennies % 100:02d}"
    assert (
        f"Refund £{total // 100}.{total % 100:02d} of order {order.number} for "
        f"1 × {small.sku}, the shipping charge of {shipping} to the card"
    ) in asked
    assert f"Restock 1 × {small.sku}." in asked
    assert not RefundRequest.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, fields | {"confirmed": "1"}, follow=True)
    order.refresh_from_db()
    assert order.refunded_pennies == total
    request = RefundRequest.objects.get()
    assert request.lines == {str(small.pk): 1}
    assert request.shipping_pennies == order.shipping_pennies
    again = client.get(reverse("ops:order_detail", args=[order.number])).content
    assert b'name="refund_shipping"' not in again  # shipping went back already


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, "Choose the units or the shipping charge to refund, or enter an amount."),
        ({"amount": "30.01", "refund_BIG": "2"}, "The chosen lines come to £30.00"),
        ({"refund_BIG": "3"}, "Ensure this value is less than or equal to 2."),
    ],
)
def test_the_ops_form_says_what_is_wrong_and_refunds_nothing(
    client, paid, ops_user, extra, message
):
    order, big, _ = paid
    client.force_login(ops_user)
    fields = {"idempotency_key": "form-x", "amount": ""}
    fields |= {k.replace("BIG", str(big.pk)): v for k, v in extra.items()}
    response = client.post(
        reverse("payments_ops:refund", args=[order.number]), fields, follow=True
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not RefundRequest.objects.exists()


def test_the_timeline_says_which_lines_were_refunded(client, paid, ops_user):
    order, big, _ = paid
    _by_line(order, ops_user, "k1", {big.pk: 1}, shipping=True)
    client.force_login(ops_user)
    page = client.get(reverse("ops:order_detail", args=[order.number])).content.decode()
    total = 1500 + order.shipping_pennies
    amount = f"£{total // 100}.{total % 100:02d}"
    assert f"{amount} · 1 × {big.sku}, shipping" in page
