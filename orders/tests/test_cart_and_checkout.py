import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory
from catalog.models import Product, StockReservation, Variant
from catalog.tests.factories import ProductFactory, VariantFactory
from core.exceptions import DomainError
from orders.models import CartItem, Order, OrderLine
from orders.services.cart import CartEntry
from orders.services.checkout import CartChanged
from orders.tests.factories import place_order

pytestmark = pytest.mark.django_db

ADDRESS = {
    "name": "Sam Shopper",
    "line1": "1 High Street",
    "line2": "",
    "city": "Leeds",
    "postcode": "ls1 1aa",
    "country": "GB",
}


def _add(client, variant, quantity=1):
    return client.post(
        reverse("orders:cart_add"), {"variant": variant.pk, "quantity": quantity}
    )


def _checkout(client, token=None):
    if token is None:
        client.get(reverse("orders:checkout"))
        token = client.session["checkout_token"]
    return client.post(reverse("orders:checkout"), {**ADDRESS, "checkout_token": token})


def test_a_visitor_cart_lives_in_the_session_and_caps_quantities(client):
    variant = VariantFactory(stock=50)
    _add(client, variant, 15)
    _add(client, variant, 15)
    assert client.session["cart"] == {str(variant.pk): {"q": 20, "p": 1500}}
    page = client.get(reverse("orders:cart")).content.decode()
    assert "£300.00" in page


def test_cart_update_changes_and_zero_removes(client):
    variant = VariantFactory(stock=50)
    _add(client, variant, 2)
    client.post(reverse("orders:cart_update"), {"variant": variant.pk, "quantity": 5})
    assert client.session["cart"][str(variant.pk)]["q"] == 5
    client.post(reverse("orders:cart_update"), {"variant": variant.pk, "quantity": 0})
    assert client.session["cart"] == {}


def test_an_inactive_product_cannot_be_added(client):
    variant = VariantFactory(stock=5, product=ProductFactory(active=False))
    response = _add(client, variant)
    assert response.status_code == 302
    assert "cart" not in client.session or client.session["cart"] == {}


def test_signing_in_merges_the_visitor_cart_into_the_saved_one(client):
    customer = UserFactory(roles=["customer"])
    saved, visiting = VariantFactory(stock=9), VariantFactory(stock=9)
    client.force_login(customer)
    _add(client, saved, 2)
    client.logout()
    _add(client, saved, 1)
    _add(client, visiting, 3)
    client.post(
        reverse("accounts:login"),
        {"username": customer.email, "password": "correct-horse-battery"},
    )
    items = dict(
        CartItem.objects.filter(cart__customer=customer).values_list(
            "variant_id", "quantity"
        )
    )
    assert items == {saved.pk: 3, visiting.pk: 3}
    assert not client.session.get("cart")


def test_checkout_places_a_pending_order_copying_lines_and_reserving(client, customer):
    variant = VariantFactory(stock=4, option_values={"colour": "Sage"})
    client.force_login(customer)
    _add(client, variant, 2)
    response = _checkout(client)
    order = Order.objects.get(customer=customer)
    assert response.status_code == 302
    assert response["Location"] == order.get_absolute_url()
    assert order.status == "pending"
    assert (order.subtotal_pennies, order.shipping_pennies, order.total_pennies) == (
        3000,
        395,
        3395,
    )
    assert order.shipping_postcode == "LS1 1AA"
    line = order.lines.get()
    assert (
        line.product_name,
        line.variant_label,
        line.sku,
        line.unit_price_pennies,
    ) == (
        variant.product.name,
        "Sage",
        variant.sku,
        1500,
    )
    assert line.quantity == 2 and line.line_total_pennies == 3000
    hold = StockReservation.objects.get(holder=order.holder)
    assert (hold.variant_id, hold.quantity, hold.status) == (variant.pk, 2, "active")
    assert not CartItem.objects.filter(cart__customer=customer).exists()
    # Later catalogue edits do not touch what was bought.
    Product.objects.filter(pk=variant.product_id).update(
        name="Renamed", price_pennies=1
    )
    line.refresh_from_db()
    assert (line.product_name, line.unit_price_pennies) == (variant.product.name, 1500)


def test_shipping_is_free_from_the_threshold(client, customer):
    variant = VariantFactory(stock=10)
    client.force_login(customer)
    _add(client, variant, 4)  # £60.00
    _checkout(client)
    order = Order.objects.get(customer=customer)
    assert (order.shipping_pennies, order.total_pennies) == (0, 6000)


def test_a_double_submit_creates_one_order(client, customer):
    variant = VariantFactory(stock=10)
    client.force_login(customer)
    _add(client, variant, 1)
    client.get(reverse("orders:checkout"))
    token = client.session["checkout_token"]
    first = _checkout(client, token)
    _add(client, variant, 1)  # the cart is not empty on the second click
    second = _checkout(client, token)
    assert Order.objects.filter(customer=customer).count() == 1
    assert first["Location"] == second["Location"]
    assert StockReservation.objects.count() == 1


def test_a_checkout_token_of_another_customer_is_refused(customer):
    variant = VariantFactory(stock=10)
    order = place_order(customer=customer, variants={variant: 1}, token="shared-token")
    other = UserFactory(roles=["customer"])
    with pytest.raises(DomainError, match="another account"):
        place_order(customer=other, variants={variant: 1}, token=order.checkout_token)


def test_a_price_change_since_the_cart_is_shown_and_nothing_is_ordered(
    client, customer
):
    variant = VariantFactory(stock=10)
    client.force_login(customer)
    _add(client, variant, 1)
    Product.objects.filter(pk=variant.product_id).update(price_pennies=1800)
    response = _checkout(client)
    # The checkout page again, with the typed address and the new price.
    assert response.status_code == 200
    assert not Order.objects.exists()
    assert "changed from £15.00 to £18.00" in response.content.decode()
    assert response.context["form"]["line1"].value() == "1 High Street"
    # Having seen the new price, the customer can check out.
    _checkout(client, token=response.context["form"]["checkout_token"].value())
    assert Order.objects.get().total_pennies == 1800 + 395


def test_stock_gone_since_the_cart_is_shown_and_nothing_is_ordered(client, customer):
    variant = VariantFactory(stock=1)
    client.force_login(customer)
    _add(client, variant, 1)
    place_order(customer=UserFactory(roles=["customer"]), variants={variant: 1})
    response = _checkout(client)
    # Nothing left to order: back to the (now empty) cart, saying why.
    assert response["Location"] == reverse("orders:cart")
    assert Order.objects.filter(customer=customer).count() == 0
    cart_page = client.get(reverse("orders:cart")).content.decode()
    assert "is out of stock, so it is no longer in your cart" in cart_page


def test_a_lapsed_hold_of_another_order_does_not_block_checkout(customer):
    variant = VariantFactory(stock=1)
    lapsed = place_order(
        customer=UserFactory(roles=["customer"]), variants={variant: 1}
    )
    StockReservation.objects.filter(holder=lapsed.holder).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    order = place_order(customer=customer, variants={variant: 1})
    assert StockReservation.objects.holding().get().holder == order.holder


def test_checkout_holds_the_stock_for_the_configured_minutes(customer, settings):
    settings.STOCK_RESERVATION_MINUTES = 45
    before = timezone.now()
    order = place_order(customer=customer, variants={VariantFactory(stock=3): 2})
    hold = StockReservation.objects.get(holder=order.holder)
    assert (hold.quantity, hold.status) == (2, "active")
    assert (
        before + dt.timedelta(minutes=45)
        <= hold.expires_at
        <= timezone.now() + dt.timedelta(minutes=45)
    )


def test_checkout_raises_cart_changed_with_every_problem(customer):
    a, b = VariantFactory(stock=1), VariantFactory(stock=5)
    Variant.objects.filter(pk=b.pk).update(price_override_pennies=999)
    from orders.services.checkout import ShippingAddress, order_place

    with pytest.raises(CartChanged) as caught:
        order_place(
            customer=customer,
            entries={a.pk: CartEntry(2, 1500), b.pk: CartEntry(1, 1500)},
            address=ShippingAddress(name="x", line1="y", city="z", postcode="p"),
            checkout_token="t-1",
        )
    assert len(caught.value.problems) == 2


def test_an_empty_cart_cannot_check_out(client, customer):
    client.force_login(customer)
    assert client.get(reverse("orders:checkout"))["Location"] == reverse("orders:cart")


def test_preorder_lines_are_ordered_without_stock(client, customer):
    variant = VariantFactory(stock=0, product=ProductFactory(is_preorder=True))
    client.force_login(customer)
    _add(client, variant, 2)
    _checkout(client)
    line = OrderLine.objects.get()
    assert line.is_preorder and line.quantity == 2
    assert not StockReservation.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_double_submits_create_one_order(run_concurrently):
    customer = UserFactory(roles=["customer"])
    variant = VariantFactory(stock=10)

    def submit(i):
        return place_order(
            customer=customer, variants={variant: 1}, token="same-click"
        ).pk

    results = run_concurrently(4, submit)
    assert len(results) == 4 and len(set(results)) == 1, results
    assert Order.objects.count() == 1
    assert StockReservation.objects.count() == 1


def test_order_numbers_are_unguessable_and_easy_to_read_out(customer):
    import re

    from orders.services.checkout import new_order_number

    numbers = {new_order_number() for _ in range(500)}
    assert len(numbers) == 500
    assert all(re.fullmatch(r"PL-[A-HJ-NP-Z2-9]{8}", n) for n in numbers)
    order = place_order(customer=customer, variants={VariantFactory(stock=2): 1})
    assert re.fullmatch(r"PL-[A-HJ-NP-Z2-9]{8}", order.number)
