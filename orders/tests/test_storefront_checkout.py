"""The address typed at checkout survives a refused placing, and is saved on the
account to be offered next time (issue 17)."""

import pytest
from django.urls import reverse

from accounts.models import SavedAddress
from accounts.tests.factories import UserFactory
from catalog.models import Product
from catalog.tests.factories import ProductFactory, VariantFactory
from orders.models import Order
from orders.tests.factories import place_order

pytestmark = pytest.mark.django_db

TYPED = {
    "name": "Sam Shopper",
    "line1": "1 High Street",
    "line2": "Flat 2",
    "city": "Leeds",
    "postcode": "ls1 1aa",
    "country": "GB",
}


def _add(client, variant, quantity=1):
    client.post(
        reverse("orders:cart_add"), {"variant": variant.pk, "quantity": quantity}
    )


def _open_checkout(client):
    response = client.get(reverse("orders:checkout"))
    assert response.status_code == 200
    return response


def _place(client, **fields):
    token = client.session["checkout_token"]
    data = {"checkout_token": token, "save_address": "on", **fields}
    return client.post(reverse("orders:checkout"), data)


def test_stock_gone_at_placing_shows_the_form_again_with_the_typed_address(
    client, customer
):
    gloves = VariantFactory(
        product=ProductFactory(name="Wool Gloves"),
        stock=11,
        option_values={"size": "L"},
    )
    client.force_login(customer)
    _add(client, gloves, 10)
    _open_checkout(client)
    place_order(customer=UserFactory(roles=["customer"]), variants={gloves: 4})
    response = _place(client, **TYPED)
    assert response.status_code == 200
    assert not Order.objects.filter(customer=customer).exists()
    html = response.content.decode()
    assert "Only 7 of Wool Gloves — L are available, so your cart now holds 7" in html
    assert "Check your order, then place it again." in html
    form = response.context["form"]
    assert [form[f].value() for f in ("line1", "line2", "city")] == [
        "1 High Street",
        "Flat 2",
        "Leeds",
    ]
    # Placing again orders what the page showed.
    response = _place(client, **TYPED)
    order = Order.objects.get(customer=customer)
    assert response["Location"] == order.get_absolute_url()
    assert order.lines.get().quantity == 7


def test_an_invalid_form_keeps_what_was_typed(client, customer):
    client.force_login(customer)
    _add(client, VariantFactory(stock=5))
    _open_checkout(client)
    response = _place(client, **{**TYPED, "postcode": ""})
    assert response.status_code == 200
    assert response.context["form"].errors == {"postcode": ["This field is required."]}
    assert 'value="1 High Street"' in response.content.decode()


def test_the_typed_address_waits_in_the_session_until_an_order_is_placed(
    client, customer
):
    mug = VariantFactory(stock=5)
    client.force_login(customer)
    _add(client, mug)
    _open_checkout(client)
    Product.objects.filter(pk=mug.product_id).update(price_pennies=1800)
    assert _place(client, **TYPED).status_code == 200  # the price changed
    # The customer goes back to the cart, then to checkout: still typed.
    client.get(reverse("orders:cart"))
    form = _open_checkout(client).context["form"]
    assert form["line1"].value() == "1 High Street"
    assert form["postcode"].value() == "LS1 1AA"
    _place(client, **TYPED)
    assert Order.objects.filter(customer=customer).count() == 1
    assert "checkout_address" not in client.session


def test_a_placed_order_saves_its_address_and_offers_it_next_time(client, customer):
    mug = VariantFactory(stock=5)
    client.force_login(customer)
    _add(client, mug)
    _open_checkout(client)
    _place(client, **TYPED)
    saved = SavedAddress.objects.get(user=customer)
    assert (saved.name, saved.line1, saved.line2, saved.city, saved.postcode) == (
        "Sam Shopper",
        "1 High Street",
        "Flat 2",
        "Leeds",
        "LS1 1AA",
    )

    _add(client, mug)
    response = _open_checkout(client)
    assert response.context["form"]["saved_address"].value() == saved.pk
    html = response.content.decode()
    assert "Sam Shopper, 1 High Street, Flat 2, Leeds, LS1 1AA" in html
    # Choosing it needs nothing typed.
    response = _place(client, saved_address=saved.pk, country="GB")
    second = Order.objects.filter(customer=customer).latest("id")
    assert response["Location"] == second.get_absolute_url()
    assert (second.shipping_line1, second.shipping_line2, second.shipping_postcode) == (
        "1 High Street",
        "Flat 2",
        "LS1 1AA",
    )
    assert SavedAddress.objects.filter(user=customer).count() == 1


def test_saving_is_optional_and_the_same_address_is_kept_once(client, customer):
    mug = VariantFactory(stock=10)
    client.force_login(customer)
    for _ in range(2):
        _add(client, mug)
        _open_checkout(client)
        _place(client, **TYPED)
    assert SavedAddress.objects.filter(user=customer).count() == 1
    _add(client, mug)
    _open_checkout(client)
    token = client.session["checkout_token"]
    client.post(
        reverse("orders:checkout"),
        {**TYPED, "line1": "9 Other Road", "checkout_token": token},
    )  # "save" unticked
    assert Order.objects.filter(customer=customer).count() == 3
    assert list(
        SavedAddress.objects.filter(user=customer).values_list("line1", flat=True)
    ) == ["1 High Street"]


def test_another_customers_saved_address_cannot_be_chosen(client, customer):
    other = UserFactory(roles=["customer"])
    theirs = SavedAddress.objects.create(
        user=other, name="Other", line1="5 Lane", city="York", postcode="YO1 7HH"
    )
    SavedAddress.objects.create(
        user=customer, name="Mine", line1="1 Road", city="Leeds", postcode="LS1 1AA"
    )
    client.force_login(customer)
    _add(client, VariantFactory(stock=5))
    _open_checkout(client)
    response = _place(client, saved_address=theirs.pk, country="GB")
    assert response.status_code == 200
    assert "saved_address" in response.context["form"].errors
    assert not Order.objects.exists()


def test_with_a_saved_address_chosen_what_is_typed_is_not_checked(client, customer):
    saved = SavedAddress.objects.create(
        user=customer, name="Mine", line1="1 Road", city="Leeds", postcode="LS1 1AA"
    )
    client.force_login(customer)
    _add(client, VariantFactory(stock=5))
    _open_checkout(client)
    response = _place(
        client, saved_address=saved.pk, country="GB", postcode="x" * 30, line1=""
    )
    order = Order.objects.get(customer=customer)
    assert response["Location"] == order.get_absolute_url()
    assert (order.shipping_line1, order.shipping_postcode) == ("1 Road", "LS1 1AA")


def test_a_new_address_needs_its_fields_even_with_saved_ones(client, customer):
    SavedAddress.objects.create(
        user=customer, name="Mine", line1="1 Road", city="Leeds", postcode="LS1 1AA"
    )
    client.force_login(customer)
    _add(client, VariantFactory(stock=5))
    _open_checkout(client)
    response = _place(client, saved_address="", name="Sam", country="GB")
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"line1", "city", "postcode"}
    assert not Order.objects.exists()


def test_a_chosen_saved_address_is_still_chosen_after_a_bounce(client, customer):
    chosen = SavedAddress.objects.create(
        user=customer, name="Mine", line1="1 Road", city="Leeds", postcode="LS1 1AA"
    )
    latest = SavedAddress.objects.create(
        user=customer, name="New", line1="9 Road", city="York", postcode="YO1 7HH"
    )
    assert customer.saved_addresses.first() == latest  # offered by default
    mug = VariantFactory(stock=5)
    client.force_login(customer)
    _add(client, mug)
    _open_checkout(client)
    Product.objects.filter(pk=mug.product_id).update(price_pennies=1800)
    response = _place(client, saved_address=chosen.pk, country="GB")
    assert response.context["form"]["saved_address"].value() == str(chosen.pk)
    client.get(reverse("orders:cart"))
    form = _open_checkout(client).context["form"]
    assert form["saved_address"].value() == chosen.pk
