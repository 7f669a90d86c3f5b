"""The customer's journeys in a real Chromium against the live app.

1. A visitor browses the shop and puts a mug in the cart; signs in to save a tea
   towel to the wishlist (the visitor's cart merges into theirs); moves the towel
   to the cart; checks out; is declined once by the offline gateway, then pays; and
   sees the paid order, in its page and in "My orders".
2. A signed-in customer subscribes to the coffee club through the offline
   subscription checkout and sees the subscription active on their account.
3. A customer moves gloves from the wishlist choosing the size, is told the cart
   holds only what is in stock (on the cart, then above the checkout's address
   form when more sells meanwhile), and checks out with the address saved from an
   earlier order.

Payments run offline (PAYMENTS_USE_STRIPE=0): the offline checkout pages hand
signed Stripe-shaped events to the real webhook pipeline. What the person sees is
asserted with Playwright's `expect`, each main page is checked with axe, and what
the app wrote is asserted in the database.
"""

import re

import pytest
from playwright.sync_api import expect

from e2e.pages import nav_link

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ORDER_URL = re.compile(r"/orders/(PL-[A-Z2-9]{8})/$")
CHECKOUT_URL = re.compile(r"/payments/offline/cs_test_offline[0-9a-f]{24}/$")
SUBSCRIPTION_CHECKOUT_URL = re.compile(r"/payments/offline/subscription/[^/]+/$")


def test_customer_browses_saves_to_wishlist_checks_out_pays_and_sees_the_paid_order(
    page, live_server, mug, tea_towel, shopper, password, a11y
):
    from catalog.models import Variant
    from orders.models import Order
    from payments.models import Payment
    from wishlist.models import WishlistItem

    url = live_server.url

    # Browse as a visitor: the shop, then the mug.
    page.goto("/")
    nav_link(page, "Main", "Shop").click()
    expect(page).to_have_url(f"{url}/products/")
    expect(page.get_by_role("heading", name="Products", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Linen Tea Towel", exact=True)).to_be_visible()
    a11y.check("shop")
    page.get_by_role("link", name="Stoneware Mug", exact=True).click()
    expect(page).to_have_url(f"{url}/products/stoneware-mug/")
    expect(page.get_by_role("heading", name="Stoneware Mug", level=1)).to_be_visible()
    expect(page.get_by_text("£14.00").first).to_be_visible()
    expect(page.get_by_role("radio", name=re.compile("Sage"))).to_be_checked()
    expect(page.get_by_text("Sign in to save it to your wishlist.")).to_be_visible()
    a11y.check("product")

    # Into the visitor's cart.
    page.get_by_role("button", name="Add to cart").click()
    expect(page).to_have_url(f"{url}/cart/")
    expect(page.get_by_role("heading", name="Your cart", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("to your cart")
    mug_row = page.get_by_role("row").filter(has_text="Stoneware Mug")
    expect(mug_row).to_contain_text("£14.00")
    a11y.check("cart (visitor)")

    # The tea towel: signing in to save it brings the visitor back to it.
    page.get_by_role("link", name="Keep shopping").click()
    page.get_by_role("link", name="Linen Tea Towel", exact=True).click()
    page.get_by_role("main").get_by_role("link", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    a11y.check("sign in")
    page.get_by_label("Email").fill("shopper@example.com")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(f"{url}/products/linen-tea-towel/")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    page.get_by_role("button", name="Save to wishlist").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Saved Linen Tea Towel to your wishlist."
    )
    expect(page.get_by_role("button", name="On your wishlist — remove")).to_be_visible()

    nav_link(page, "Main", "Wishlist").click()
    expect(page.get_by_role("heading", name="Your wishlist", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Linen Tea Towel", exact=True)).to_be_visible()
    expect(page.get_by_text("£9.00")).to_be_visible()
    a11y.check("wishlist")
    assert list(
        WishlistItem.objects.filter(customer=shopper).values_list(
            "product__name", flat=True
        )
    ) == ["Linen Tea Towel"]

    # Moved to the cart, which still holds the mug from before signing in.
    page.get_by_role("button", name="Move to cart").click()
    expect(page).to_have_url(f"{url}/cart/")
    expect(page.get_by_role("status")).to_contain_text("to your cart")
    expect(page.get_by_role("row").filter(has_text="Stoneware Mug")).to_contain_text(
        "£14.00"
    )
    expect(page.get_by_role("row").filter(has_text="Linen Tea Towel")).to_contain_text(
        "£9.00"
    )
    expect(page.get_by_role("main")).to_contain_text(re.compile(r"Total\s*£26\.95"))
    a11y.check("cart (customer)")

    # Checkout: the delivery address, then the pending order.
    page.get_by_role("link", name="Check out").click()
    expect(page.get_by_role("heading", name="Checkout", level=1)).to_be_visible()
    summary = page.get_by_role("complementary")
    expect(summary).to_contain_text("Stoneware Mug")
    expect(summary).to_contain_text("Linen Tea Towel")
    expect(page.get_by_label("Full name")).to_have_value("Sam Shopper")
    expect(page.get_by_label("Country")).to_have_value("GB")
    a11y.check("checkout")
    page.get_by_label("Address line 1").fill("1 High Street")
    page.get_by_label("Town or city").fill("Leeds")
    page.get_by_label("Postcode").fill("ls1 1aa")
    page.get_by_role("button", name="Place order").click()

    expect(page).to_have_url(ORDER_URL)
    number = ORDER_URL.search(page.url).group(1)
    order_url = f"{url}/orders/{number}/"
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(re.compile(rf"Order {number}\s+Pending payment"))
    expect(page.get_by_role("status")).to_contain_text(
        f"Order {number} is placed and awaits payment."
    )
    expect(page.get_by_text("Awaiting payment.")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="MUG-SAG")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="TOWEL-OAT")).to_be_visible()
    expect(page.get_by_text("LS1 1AA")).to_be_visible()
    a11y.check("order (pending)")

    # The offline gateway: a declined card first, then a payment.
    page.get_by_role("button", name="Pay £26.95 now").click()
    expect(page).to_have_url(CHECKOUT_URL)
    expect(page.get_by_role("heading", name="Pay £26.95", level=1)).to_be_visible()
    expect(
        page.get_by_text("Offline test payments: no real money moves")
    ).to_be_visible()
    expect(page.get_by_text(f"Order {number}")).to_be_visible()
    a11y.check("offline checkout")
    page.get_by_role("button", name="Decline (test a failed card)").click()
    expect(page).to_have_url(order_url)
    expect(page.get_by_role("status")).to_contain_text(
        "Your card was declined. You can try again."
    )
    expect(heading).to_contain_text("Pending payment")

    page.get_by_role("button", name="Pay £26.95 now").click()
    expect(page).to_have_url(CHECKOUT_URL)
    page.get_by_role("button", name="Pay", exact=True).click()
    expect(page).to_have_url(order_url)
    expect(page.get_by_role("status")).to_contain_text("Payment received. Thank you!")
    expect(heading).to_have_text(re.compile(rf"Order {number}\s+Paid\s*$"))
    expect(page.get_by_text("Awaiting payment.")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^Pay "))).to_have_count(0)
    expect(page.get_by_role("button", name="Cancel this order")).to_have_count(0)
    expect(page.get_by_role("heading", name="Payment", level=2)).to_be_visible()
    expect(page.get_by_text(re.compile(r"Paid £26\.95 on \d"))).to_be_visible()
    a11y.check("order (paid)")

    # "My orders" lists it as paid.
    nav_link(page, "Main", "My orders").click()
    expect(page.get_by_role("heading", name="Your orders", level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has_text=number)
    expect(row).to_contain_text("Paid")
    expect(row).to_contain_text("£26.95")
    a11y.check("my orders")

    # What the app wrote: one paid order, one applied payment, the stock sold.
    order = Order.objects.get(customer=shopper)
    assert (order.number, order.status, order.total_pennies) == (number, "paid", 2695)
    assert order.shipping_postcode == "LS1 1AA"
    assert sorted(order.lines.values_list("sku", "quantity")) == [
        ("MUG-SAG", 1),
        ("TOWEL-OAT", 1),
    ]
    assert list(
        Payment.objects.filter(order=order).values_list("applied", "amount_pennies")
    ) == [(True, 2695)]
    assert Variant.objects.get(sku="MUG-SAG").stock_on_hand == 4
    assert Variant.objects.get(sku="TOWEL-OAT").stock_on_hand == 7
    a11y.assert_clean()


def test_customer_subscribes_through_the_offline_checkout_and_sees_it_active(
    page, live_server, coffee_club, shopper, sign_in, a11y
):
    from subscriptions.models import Subscription

    url = live_server.url
    sign_in("shopper@example.com", path="/account/login/?next=/account/subscriptions/")
    expect(page).to_have_url(f"{url}/account/subscriptions/")
    expect(
        page.get_by_role("heading", name="Your subscriptions", level=1)
    ).to_be_visible()
    expect(page.get_by_text("You have no subscriptions.")).to_be_visible()

    nav_link(page, "Main", "Shop").click()
    page.get_by_role("link", name="Coffee Club", exact=True).click()
    expect(page.get_by_role("heading", name="Coffee Club", level=1)).to_be_visible()
    expect(page.get_by_text("£12.00 / month")).to_be_visible()
    expect(
        page.get_by_text(re.compile(r"^Billed every month until you cancel"))
    ).to_be_visible()
    a11y.check("subscription product")

    page.get_by_role("button", name="Subscribe").click()
    expect(page).to_have_url(SUBSCRIPTION_CHECKOUT_URL)
    expect(page.get_by_role("heading", name="£12.00 / month", level=1)).to_be_visible()
    expect(
        page.get_by_text("Offline test payments: no real money moves")
    ).to_be_visible()
    expect(page.get_by_text("Coffee Club · shopper@example.com")).to_be_visible()
    a11y.check("offline subscription checkout")
    page.get_by_role("button", name="Subscribe", exact=True).click()

    expect(page).to_have_url(f"{url}/account/subscriptions/?subscribed=1")
    expect(page.get_by_role("status")).to_contain_text("Subscribed. Thank you!")
    row = page.get_by_role("row").filter(has_text="Coffee Club")
    expect(row).to_contain_text("£12.00 / month")
    expect(row).to_contain_text("Active")
    expect(row.get_by_role("button", name="Cancel at period end")).to_be_visible()
    a11y.check("subscriptions")

    subscription = Subscription.objects.get(customer=shopper)
    assert subscription.status == "active"
    assert subscription.variant.sku == "COFFEE-CLUB-SUB"
    assert not subscription.cancel_at_period_end
    a11y.assert_clean()


@pytest.fixture
def gloves(transactional_db):
    """A product in two sizes at two prices; the large size runs short."""
    from catalog.services.products import (
        VariantSpec,
        category_get_or_create,
        product_create,
    )

    return product_create(
        name="Wool Gloves",
        category=category_get_or_create(name="Outdoor"),
        price_pennies=1700,
        description="Lambswool gloves, lined.",
        variants=[
            VariantSpec(sku="GLOVES-S", option_values={"size": "S"}, stock=30),
            VariantSpec(
                sku="GLOVES-L",
                option_values={"size": "L"},
                stock=11,
                price_override_pennies=2550,
            ),
        ],
    )


def test_customer_moves_a_wishlist_item_choosing_its_variant_and_checks_out_with_the_saved_address(  # noqa: E501
    page, live_server, gloves, shopper, sign_in, a11y
):
    from accounts.tests.factories import UserFactory
    from catalog.models import Variant
    from orders.models import Order
    from orders.services.checkout import ShippingAddress, saved_address_remember
    from orders.tests.factories import place_order
    from wishlist.models import WishlistItem

    url = live_server.url
    # Saved at an earlier checkout.
    saved_address_remember(
        customer=shopper,
        address=ShippingAddress(
            name="Sam Shopper", line1="1 High Street", city="Leeds", postcode="LS1 1AA"
        ),
    )
    sign_in("shopper@example.com", path="/account/login/?next=/products/")
    expect(page).to_have_url(f"{url}/products/")
    card = page.get_by_role("article").filter(has_text="Wool Gloves")
    expect(card).to_contain_text("from £17.00")
    cart_link = page.get_by_role("navigation", name="Main").get_by_role(
        "link", name=re.compile(r"^Cart")
    )
    expect(cart_link).to_have_text("Cart")

    page.get_by_role("link", name="Wool Gloves", exact=True).click()
    page.get_by_role("button", name="Save to wishlist").click()
    expect(page.get_by_role("status")).to_contain_text("Saved Wool Gloves")

    # The wishlist asks which size; nothing is chosen for the customer.
    nav_link(page, "Main", "Wishlist").click()
    choice = page.get_by_label("Option for Wool Gloves")
    expect(choice).to_have_value("")
    expect(choice.get_by_role("option")).to_have_text(
        ["Choose an option", "S · £17.00", "L · £25.50"]
    )
    a11y.check("wishlist (variant choice)")
    choice.select_option(label="L · £25.50")
    page.get_by_role("button", name="Move to cart").click()
    expect(page).to_have_url(f"{url}/cart/")
    expect(page.get_by_role("status")).to_contain_text(
        "Moved Wool Gloves — L to your cart."
    )
    row = page.get_by_role("row").filter(has_text="Wool Gloves")
    expect(row).to_contain_text("L")
    expect(row).to_contain_text("£25.50")
    expect(cart_link).to_have_text(re.compile(r"^Cart\s*1\s*item$"))
    assert not WishlistItem.objects.filter(customer=shopper, removed_at=None).exists()

    # Twenty asked for, eleven in stock: the cart holds eleven and says so.
    page.get_by_label("Quantity of Wool Gloves — L").fill("20")
    row.get_by_role("button", name="Update").click()
    notice = page.get_by_role("alert").filter(has_text="Quantities changed")
    expect(notice).to_contain_text(
        "Only 11 of Wool Gloves — L are available, so your cart now holds 11 "
        "(you had 20)."
    )
    expect(page.get_by_label("Quantity of Wool Gloves — L")).to_have_value("11")
    expect(cart_link).to_have_text(re.compile(r"^Cart\s*11\s*items$"))
    a11y.check("cart (capped)")

    # Three more sell meanwhile: checkout says so above the address form, which
    # offers the saved address.
    place_order(
        customer=UserFactory(roles=["customer"]),
        variants={Variant.objects.get(sku="GLOVES-L"): 3},
    )
    page.get_by_role("link", name="Check out").click()
    expect(page.get_by_role("heading", name="Checkout", level=1)).to_be_visible()
    warning = page.get_by_role("alert").filter(has_text="Your order changed")
    expect(warning).to_contain_text(
        "Only 8 of Wool Gloves — L are available, so your cart now holds 8 "
        "(you had 11)."
    )
    address_form = page.get_by_role("heading", name="Delivery address")
    assert warning.bounding_box()["y"] < address_form.bounding_box()["y"]
    expect(page.get_by_role("complementary")).to_contain_text("8 × Wool Gloves — L")
    saved = page.get_by_role("radio", name="Sam Shopper, 1 High Street, Leeds, LS1 1AA")
    expect(saved).to_be_checked()
    a11y.check("checkout (saved address)")
    page.get_by_role("button", name="Place order").click()

    expect(page).to_have_url(ORDER_URL)
    number = ORDER_URL.search(page.url).group(1)
    expect(page.get_by_role("status")).to_contain_text(
        f"Order {number} is placed and awaits payment."
    )
    expect(page.get_by_text("1 High Street")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="GLOVES-L")).to_be_visible()
    expect(cart_link).to_have_text("Cart")

    order = Order.objects.get(number=number)
    assert (order.shipping_line1, order.shipping_city, order.shipping_postcode) == (
        "1 High Street",
        "Leeds",
        "LS1 1AA",
    )
    assert list(order.lines.values_list("sku", "quantity")) == [("GLOVES-L", 8)]
    assert order.total_pennies == 8 * 2550
    assert shopper.saved_addresses.count() == 1
    a11y.assert_clean()
