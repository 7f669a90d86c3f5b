"""The cart fits itself to the stock and says so, before any address is typed,
and shows its count in the header (issue 17)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.tests.factories import UserFactory
from catalog.tests.factories import ProductFactory, VariantFactory
from orders.models import Cart, CartItem
from orders.tests.factories import place_order

pytestmark = pytest.mark.django_db


def _add(client, variant, quantity=1):
    return client.post(
        reverse("orders:cart_add"), {"variant": variant.pk, "quantity": quantity}
    )


def _gloves(stock=11, **kwargs):
    product = ProductFactory(name="Wool Gloves", **kwargs)
    return VariantFactory(product=product, stock=stock, option_values={"size": "L"})


def test_the_cart_caps_a_line_at_the_stock_and_says_which(client, customer):
    gloves = _gloves(stock=11)
    towel = VariantFactory(stock=30)
    client.force_login(customer)
    _add(client, gloves, 20)
    _add(client, towel, 2)
    response = client.get(reverse("orders:cart"))
    html = response.content.decode()
    assert (
        "Only 11 of Wool Gloves — L are available, so your cart now holds 11 "
        "(you had 20)."
    ) in html
    assert html.index("Only 11 of Wool Gloves") < html.index("<table>")
    quantities = dict(
        CartItem.objects.filter(cart__customer=customer).values_list(
            "variant_id", "quantity"
        )
    )
    assert quantities == {gloves.pk: 11, towel.pk: 2}
    # Said once: the next look finds nothing to change.
    assert (
        "so your cart now holds"
        not in client.get(reverse("orders:cart")).content.decode()
    )


def test_a_line_with_nothing_left_leaves_the_cart_with_a_word(client):
    gloves = _gloves(stock=1)
    _add(client, gloves, 1)
    place_order(customer=UserFactory(roles=["customer"]), variants={gloves: 1})
    html = client.get(reverse("orders:cart")).content.decode()
    assert (
        "Wool Gloves — L is out of stock, so it is no longer in your cart (you had 1)."
        in html
    )
    assert client.session["cart"] == {}


def test_preorder_lines_are_not_capped(client):
    jacket = VariantFactory(product=ProductFactory(is_preorder=True), stock=0)
    _add(client, jacket, 3)
    html = client.get(reverse("orders:cart")).content.decode()
    assert "so your cart now holds" not in html
    assert client.session["cart"][str(jacket.pk)]["q"] == 3


def test_checkout_says_what_was_capped_above_the_address_form(client, customer):
    gloves = _gloves(stock=11)
    client.force_login(customer)
    _add(client, gloves, 5)
    client.get(reverse("orders:cart"))  # fine: 5 of 11
    place_order(customer=UserFactory(roles=["customer"]), variants={gloves: 8})
    response = client.get(reverse("orders:checkout"))
    assert response.status_code == 200
    html = response.content.decode()
    warning = "Only 3 of Wool Gloves — L are available, so your cart now holds 3"
    assert warning in html
    assert html.index(warning) < html.index('name="line1"')
    assert response.context["cart"].lines[0].quantity == 3
    assert CartItem.objects.get(cart__customer=customer).quantity == 3


def test_the_header_counts_the_units_in_the_cart(client, customer):
    towel = VariantFactory(stock=30)
    home = reverse("catalog:home")
    assert "cart-count" not in client.get(home).content.decode()
    _add(client, towel, 3)
    assert (
        '<span class="badge badge-info cart-count">3'
        '<span class="visually-hidden"> items</span></span>'
    ) in client.get(home).content.decode()
    client.force_login(customer)  # the visitor's cart joins the customer's
    _add(client, towel, 1)
    html = client.get(home).content.decode()
    assert '<span class="badge badge-info cart-count">4' in html


def test_the_cart_count_costs_one_query_and_none_for_an_empty_visitor(
    client, customer, ops_user
):
    from orders.context_processors import cart_count

    request = client.get(reverse("catalog:home")).wsgi_request
    with CaptureQueriesContext(connection) as captured:
        assert cart_count(request) == {"cart_count": 0}
    assert len(captured) == 0

    CartItem.objects.create(
        cart=Cart.objects.create(customer=customer),
        variant=VariantFactory(stock=5),
        quantity=2,
        seen_price_pennies=1500,
    )
    client.force_login(customer)
    request = client.get(reverse("catalog:home")).wsgi_request
    request.user.roles  # noqa: B018 - read by the navigation already
    with CaptureQueriesContext(connection) as captured:
        assert cart_count(request) == {"cart_count": 2}
    assert len(captured) == 1

    client.force_login(ops_user)
    request = client.get(reverse("catalog:home")).wsgi_request
    request.user.roles  # noqa: B018
    with CaptureQueriesContext(connection) as captured:
        assert cart_count(request) == {}
    assert len(captured) == 0


def test_a_single_unit_left_reads_as_one(client):
    gloves = _gloves(stock=1)
    _add(client, gloves, 4)
    html = client.get(reverse("orders:cart")).content.decode()
    assert "Only 1 of Wool Gloves — L is available, so your cart now holds 1" in html
