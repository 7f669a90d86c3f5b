"""End-to-end journeys in a real Chromium against the live app.

1. An anonymous visitor browses, adds to the cart, is asked to sign in at checkout,
   checks out and sees the pending order.
2. An ops user fulfils a paid order from the queue, one at a time and in bulk.

What the person sees is asserted with Playwright's `expect`; what the app wrote is
asserted in the database.
"""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ORDER_URL = re.compile(r"/orders/(PL-[A-Z2-9]{8})/$")


def test_visitor_browses_adds_to_cart_signs_in_checks_out_and_sees_pending_order(
    page, live_server, mug, shopper, password
):
    from catalog.models import StockReservation
    from orders.models import Order, OrderLine

    # Browse: the product list, then the product itself.
    page.goto("/products/")
    expect(page.get_by_role("heading", name="Products", level=1)).to_be_visible()
    page.get_by_role("link", name="Stoneware Mug", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/products/stoneware-mug/")
    expect(page.get_by_role("heading", name="Stoneware Mug", level=1)).to_be_visible()
    expect(page.locator("input[name=variant]")).to_be_checked()

    # Add to cart, as an anonymous visitor.
    page.get_by_role("button", name="Add to cart").click()
    expect(page).to_have_url(f"{live_server.url}/cart/")
    expect(page.get_by_role("heading", name="Your cart", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("to your cart")
    cart_table = page.locator("main table")
    expect(cart_table.get_by_role("link", name="Stoneware Mug")).to_be_visible()
    expect(cart_table).to_contain_text("£14.00")

    # Checkout needs a signed-in customer: the login page, then back to checkout.
    page.get_by_role("link", name="Check out").click()
    expect(page).to_have_url(f"{live_server.url}/account/login/?next=/checkout/")
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    page.locator("#id_username").fill("shopper@example.com")
    page.locator("#id_password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()

    # The session cart was merged into the customer's cart at sign-in.
    expect(page).to_have_url(f"{live_server.url}/checkout/")
    expect(page.get_by_role("heading", name="Checkout", level=1)).to_be_visible()
    expect(page.locator("aside")).to_contain_text("1 \N{MULTIPLICATION SIGN} ")
    expect(page.locator("aside")).to_contain_text("Stoneware Mug")
    expect(page.locator("#id_name")).to_have_value("Sam Shopper")
    expect(page.locator("#id_country")).to_have_value("GB")
    page.locator("#id_name").fill("Sam Shopper")
    page.locator("#id_line1").fill("1 High Street")
    page.locator("#id_city").fill("Leeds")
    page.locator("#id_postcode").fill("ls1 1aa")
    page.get_by_role("button", name="Place order").click()

    # The order page: pending, awaiting payment.
    expect(page).to_have_url(ORDER_URL)
    number = ORDER_URL.search(page.url).group(1)
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(f"Order {number}")
    expect(heading.locator(".badge")).to_have_text("Pending payment")
    expect(page.get_by_text("Awaiting payment.")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(
        f"Order {number} is placed and awaits payment."
    )
    expect(page.locator("main table")).to_contain_text("MUG-SAG")
    expect(page.locator("dl.facts")).to_contain_text("LS1 1AA")

    # What the app wrote.
    orders = list(Order.objects.filter(customer=shopper))
    assert len(orders) == 1
    order = orders[0]
    assert order.number == number
    assert order.status == "pending"
    assert order.shipping_postcode == "LS1 1AA"
    assert order.shipping_country == "GB"
    assert order.total_pennies == order.subtotal_pennies + order.shipping_pennies
    lines = list(OrderLine.objects.filter(order=order))
    assert [(line.sku, line.quantity) for line in lines] == [("MUG-SAG", 1)]
    reservations = list(StockReservation.objects.filter(holder=f"order:{order.pk}"))
    assert [(r.quantity, r.status) for r in reservations] == [(1, "active")]
    assert reservations[0].variant.sku == "MUG-SAG"


@pytest.fixture
def paid_order(mug, shopper):
    """An order placed through checkout and marked paid the way payments will."""
    from orders.services.cart import CartEntry
    from orders.services.checkout import (
        ShippingAddress,
        new_checkout_token,
        order_place,
    )
    from orders.services.lifecycle import By, order_transition

    variant = mug.variants.get(sku="MUG-SAG")
    order = order_place(
        customer=shopper,
        entries={variant.pk: CartEntry(quantity=1, seen_price_pennies=1400)},
        address=ShippingAddress(
            name="Sam", line1="1 High St", city="Leeds", postcode="LS1 1AA"
        ),
        checkout_token=new_checkout_token(),
    )
    return order_transition(order=order, to="paid", by=By.PAYMENTS)


def test_ops_user_fulfils_a_paid_order_from_the_queue(
    page, live_server, paid_order, ops_person, sign_in
):
    sign_in("ops@example.com")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    page.goto("/ops/")
    expect(page.get_by_role("heading", name="Order queue", level=1)).to_be_visible()
    row = page.locator("tbody tr", has_text=paid_order.number)
    expect(row.locator(".badge")).to_have_text("Paid")
    row.get_by_role("link", name=paid_order.number).click()

    expect(page).to_have_url(f"{live_server.url}/ops/orders/{paid_order.number}/")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(f"Order {paid_order.number}")
    expect(heading.locator(".badge")).to_have_text("Paid")
    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text("pending → paid")

    page.locator("#id_tracking_reference").fill("RM123456789GB")
    page.get_by_role("button", name="Mark fulfilled").click()

    expect(page.get_by_role("status")).to_contain_text(
        f"Order {paid_order.number} is fulfilled."
    )
    expect(heading.locator(".badge")).to_have_text("Fulfilled")
    expect(timeline).to_contain_text("paid → fulfilled")
    expect(page.locator("dl.facts")).to_contain_text("RM123456789GB")
    # A fulfilled order can be neither fulfilled nor canceled again.
    expect(page.get_by_role("button", name="Mark fulfilled")).to_have_count(0)

    paid_order.refresh_from_db()
    assert paid_order.status == "fulfilled"
    assert paid_order.tracking_reference == "RM123456789GB"
    assert paid_order.fulfilled_at is not None
    change = paid_order.status_changes.order_by("-created_at", "-pk").first()
    assert (change.from_status, change.to_status, change.by) == (
        "paid",
        "fulfilled",
        "ops",
    )
    assert change.actor == ops_person


def test_ops_user_bulk_fulfils_selected_orders_from_the_queue(
    page, live_server, paid_order, ops_person, sign_in
):
    sign_in("ops@example.com")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    page.goto("/ops/")
    backlog = page.get_by_role("heading", name="Paid, not yet fulfilled: 1")
    expect(backlog).to_be_visible()
    checkbox = page.locator(f"input[name=orders][value='{paid_order.number}']")
    checkbox.check()
    expect(checkbox).to_be_checked()
    page.get_by_role("button", name="Fulfil selected").click()

    expect(page).to_have_url(f"{live_server.url}/ops/")
    expect(page.get_by_role("status")).to_contain_text("Fulfilled 1 order(s).")
    row = page.locator("tbody tr", has_text=paid_order.number)
    expect(row.locator(".badge")).to_have_text("Fulfilled")
    # Only paid orders can be selected: the fulfilled one has no checkbox now.
    expect(checkbox).to_have_count(0)
    backlog = page.get_by_role("heading", name="Paid, not yet fulfilled: 0")
    expect(backlog).to_be_visible()

    paid_order.refresh_from_db()
    assert paid_order.status == "fulfilled"
    assert paid_order.tracking_reference == ""
