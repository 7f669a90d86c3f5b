"""End-to-end payment journeys in a real Chromium against the live app.

1. A customer pays a pending order through the offline checkout (after a declined
   card first) and sees it paid.
2. A customer pays; an ops user refunds part of the order, restocking one unit, and
   sees the refund confirmed; the customer then sees the refund on their order.

Payments run offline (PAYMENTS_USE_STRIPE=0): the offline checkout page hands signed
Stripe-shaped events to the real webhook pipeline after the request commits. What
the person sees is asserted with Playwright's `expect`; what the app wrote is
asserted in the database.
"""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHECKOUT_URL = re.compile(r"/payments/offline/cs_test_offline[0-9a-f]{24}/$")


@pytest.fixture
def pending_order(mug, shopper):
    """A pending £31.95 order (2 × £14.00 + £3.95 shipping) placed through checkout."""
    from orders.services.cart import CartEntry
    from orders.services.checkout import (
        ShippingAddress,
        new_checkout_token,
        order_place,
    )

    variant = mug.variants.get()
    return order_place(
        customer=shopper,
        entries={variant.pk: CartEntry(quantity=2, seen_price_pennies=1400)},
        address=ShippingAddress(
            name="Sam", line1="1 High St", city="Leeds", postcode="LS1 1AA"
        ),
        checkout_token=new_checkout_token(),
    )


def _open_offline_checkout(page, order):
    """On the customer's order page: click Pay and land on the offline checkout."""
    page.get_by_role("button", name="Pay £31.95 now").click()
    expect(page).to_have_url(CHECKOUT_URL)
    expect(page.get_by_role("heading", name="Pay £31.95", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text(f"Order {order.number}")
    notice = page.get_by_text("Offline test payments: no real money moves")
    expect(notice).to_be_visible()


def _pay_in_browser(page, live_server, order):
    """From the order page, pay through the offline checkout; back on a paid order."""
    order_url = f"{live_server.url}/orders/{order.number}/"
    _open_offline_checkout(page, order)
    page.get_by_role("button", name="Pay", exact=True).click()

    expect(page).to_have_url(order_url)
    expect(page.get_by_role("status")).to_contain_text("Payment received. Thank you!")
    heading = page.get_by_role("heading", level=1)
    expect(heading.locator(".badge")).to_have_text("Paid")
    expect(page.get_by_text("Awaiting payment.")).to_have_count(0)
    expect(page.get_by_role("button", name="Pay £31.95 now")).to_have_count(0)
    expect(page.get_by_role("button", name="Cancel this order")).to_have_count(0)
    expect(page.get_by_role("heading", name="Payment", level=2)).to_be_visible()
    expect(page.locator("aside")).to_contain_text(re.compile(r"Paid £31\.95 on \d"))


def _sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()


def test_customer_pays_after_a_declined_card_and_sees_the_order_paid(
    page, live_server, pending_order, mug, sign_in
):
    from catalog.models import StockReservation
    from payments.models import Payment

    order = pending_order
    order_url = f"{live_server.url}/orders/{order.number}/"
    sign_in("shopper@example.com", path=f"/account/login/?next=/orders/{order.number}/")
    expect(page).to_have_url(order_url)
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(f"Order {order.number}")
    expect(heading.locator(".badge")).to_have_text("Pending payment")
    expect(page.get_by_text("Awaiting payment.")).to_be_visible()

    # A declined card: back on the order, still pending, free to try again.
    _open_offline_checkout(page, order)
    expect(page.get_by_role("button", name="Cancel checkout")).to_be_visible()
    page.get_by_role("button", name="Decline (test a failed card)").click()
    expect(page).to_have_url(order_url)
    expect(page.get_by_role("status")).to_contain_text(
        "Your card was declined. You can try again."
    )
    expect(heading.locator(".badge")).to_have_text("Pending payment")
    expect(page.get_by_role("heading", name="Payment", level=2)).to_have_count(0)
    order.refresh_from_db()
    assert order.status == "pending"
    assert not Payment.objects.filter(order=order, applied=True).exists()

    # The second attempt goes through.
    _pay_in_browser(page, live_server, order)

    order.refresh_from_db()
    assert order.status == "paid"
    assert order.paid_at is not None
    payments = list(Payment.objects.filter(order=order))
    assert [(p.applied, p.amount_pennies, p.currency) for p in payments] == [
        (True, 3195, "GBP")
    ]
    variant = mug.variants.get()
    assert variant.stock_on_hand == 3
    reservations = list(StockReservation.objects.filter(holder=f"order:{order.pk}"))
    assert [(r.quantity, r.status) for r in reservations] == [(2, "consumed")]
    change = order.status_changes.order_by("-created_at", "-pk").first()
    assert (change.from_status, change.to_status) == ("pending", "paid")


def test_ops_user_refunds_part_of_a_paid_order_and_the_customer_sees_it(
    page, live_server, pending_order, mug, ops_person, sign_in
):
    from catalog.models import Variant
    from payments.models import Refund

    order = pending_order
    variant = mug.variants.get()

    # The customer pays in the browser.
    sign_in("shopper@example.com", path=f"/account/login/?next=/orders/{order.number}/")
    expect(page).to_have_url(f"{live_server.url}/orders/{order.number}/")
    _pay_in_browser(page, live_server, order)
    assert Variant.objects.get(pk=variant.pk).stock_on_hand == 3
    _sign_out(page)

    # Ops refunds £10.00 of it and puts one mug back on the shelf.
    sign_in("ops@example.com")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.goto(f"/ops/orders/{order.number}/")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(f"Order {order.number}")
    expect(heading.locator(".badge")).to_have_text(["Paid"])
    money = page.locator("section.money-panel")
    expect(money.get_by_role("heading", name="Money")).to_be_visible()
    expect(money.locator("li", has_text="£31.95")).to_contain_text("applied")
    expect(money.get_by_role("heading", name="Refunds")).to_have_count(0)

    money.get_by_text("Refund (up to £31.95)").click()
    page.locator("#id_amount").fill("10.00")
    page.locator("#id_reason").select_option(label="Requested by the customer")
    restock = page.get_by_label("Restock MUG-SAG")
    expect(restock).to_have_attribute("name", f"restock_{variant.pk}")
    restock.fill("1")
    money.get_by_role("button", name="Refund", exact=True).click()

    expect(page).to_have_url(f"{live_server.url}/ops/orders/{order.number}/")
    expect(page.get_by_role("status")).to_contain_text(re.compile(r"^\s*Refund re_"))
    expect(heading.locator(".badge")).to_have_text(["Paid", "Partly refunded"])
    expect(money.get_by_role("heading", name="Refunds")).to_be_visible()
    refund_row = money.locator("li", has_text="£10.00")
    expect(refund_row).to_contain_text("succeeded")
    expect(refund_row).to_contain_text("requested_by_customer")
    expect(refund_row).to_contain_text("restocked")
    # £21.95 is left to refund.
    expect(money.get_by_text("Refund (up to £21.95)")).to_be_visible()

    order.refresh_from_db()
    assert order.status == "paid"
    assert order.refund_status == "partial"
    assert order.refunded_pennies == 1000
    refunds = list(Refund.objects.filter(payment__order=order))
    assert [(r.status, r.amount_pennies) for r in refunds] == [("succeeded", 1000)]
    assert refunds[0].stripe_refund_id.startswith("re_")
    assert refunds[0].requested_by == ops_person
    assert Variant.objects.get(pk=variant.pk).stock_on_hand == 4
    _sign_out(page)

    # The customer sees the refund on their order.
    sign_in("shopper@example.com", path=f"/account/login/?next=/orders/{order.number}/")
    expect(page).to_have_url(f"{live_server.url}/orders/{order.number}/")
    expect(heading.locator(".badge")).to_have_text(["Paid", "Partly refunded"])
    expect(page.get_by_role("heading", name="Refunds", level=2)).to_be_visible()
    expect(page.locator("aside li", has_text="£10.00")).to_have_text(
        "£10.00 — refunded"
    )
    expect(page.locator("aside")).to_contain_text("Paid £31.95 on")
