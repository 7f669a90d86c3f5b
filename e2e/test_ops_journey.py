"""The ops journey in a real Chromium against the live app.

An ops user works the order queue: fulfils one paid order with a tracking
reference, refunds part of another (putting a mug back on the shelf) and fulfils
it from the queue in bulk, takes in a delivery on the stock page, and reprocesses
a Stripe event whose handler failed, which pays the order it was for. The customer
then sees the refund on their order.

The orders are placed through checkout and paid by signed Stripe events handed to
the real webhook pipeline; the failed event is one whose handler raised (a lost
database connection, injected at the stock ledger) on its first delivery.
"""

import json
import re

import pytest
from playwright.sync_api import expect

from e2e.pages import cell, nav_link

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _place(customer, variant, quantity):
    from orders.tests.factories import place_order

    return place_order(customer=customer, variants={variant: quantity})


def _deliver(order, n):
    """Hand a signed payment_intent.succeeded for `order` to the webhook."""
    from payments.gateway import sign
    from payments.tests.events import intent_succeeded
    from payments.webhook import receive

    event = intent_succeeded(order, pi=f"pi_ops{n}", charge=f"ch_ops{n}")
    body = json.dumps(event, separators=(",", ":")).encode()
    return receive(body=body, signature=sign(body))


@pytest.fixture
def orders(mug, shopper, monkeypatch):
    """Two paid orders (1 and 2 mugs) and a pending one whose payment event failed."""
    from django.db import DatabaseError

    variant = mug.variants.get()
    one, two, stuck = (_place(shopper, variant, n) for n in (1, 2, 1))
    for n, order in enumerate((one, two), start=1):
        assert _deliver(order, n).status == 200

    def lost_connection(**kwargs):
        raise DatabaseError("injected: connection lost")

    monkeypatch.setattr("payments.services.ledger.payments.stock_sell", lost_connection)
    assert _deliver(stuck, 3).status == 500
    monkeypatch.undo()
    for order in (one, two, stuck):
        order.refresh_from_db()
    assert [o.status for o in (one, two, stuck)] == ["paid", "paid", "pending"]
    return one, two, stuck


def test_ops_fulfils_refunds_adjusts_stock_and_reprocesses_a_failed_stripe_event(
    page, live_server, orders, mug, ops_person, sign_in, sign_out, a11y
):
    from catalog.models import Variant
    from payments.models import Refund, StripeEvent

    one, two, stuck = orders
    url = live_server.url
    variant = mug.variants.get()

    # The queue: two paid orders waiting, one still pending.
    sign_in("ops@example.com", path="/account/login/?next=/ops/")
    expect(page).to_have_url(f"{url}/ops/")
    expect(page.get_by_role("heading", name="Order queue", level=1)).to_be_visible()
    backlog = page.get_by_role("heading", name="Paid, not yet fulfilled: 2")
    expect(backlog).to_be_visible()
    # Stripe paid them months ago (the events' time): both are late.
    for order, status in (
        (one, "Paid Late"),
        (two, "Paid Late"),
        (stuck, "Pending payment"),
    ):
        row = page.get_by_role("row").filter(has_text=order.number)
        expect(cell(row, "Status")).to_have_text(status)
    late = page.get_by_role("link", name=re.compile(r"^Late \(over 2 business days"))
    expect(late).to_contain_text("2")
    a11y.check("order queue")

    # Fulfil the first with a tracking reference.
    page.get_by_role("link", name=one.number, exact=True).click()
    expect(page).to_have_url(f"{url}/ops/orders/{one.number}/")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(f"Order {one.number}")
    expect(heading).to_contain_text("Paid")
    expect(page.locator(".timeline").get_by_text("Paid", exact=True)).to_be_visible()
    expect(page.locator("#ship-to")).to_contain_text(one.shipping_line1)
    expect(page.locator("#ship-to")).to_contain_text(one.shipping_postcode)
    a11y.check("ops order")

    # Its packing slip: the address and the lines, one page, printed from the page.
    page.get_by_role("link", name="Packing slip").click()
    slip = page.get_by_role("article", name=f"Packing slip for {one.number}")
    expect(slip).to_contain_text(one.shipping_line1)
    expect(slip).to_contain_text(variant.sku)
    page.evaluate("window.print = () => { window.printed = true; }")
    page.get_by_role("button", name="Print").click()
    assert page.evaluate("window.printed") is True
    a11y.check("packing slip")
    page.go_back()
    page.get_by_label("Carrier").select_option(label="Royal Mail")
    page.get_by_label("Tracking reference").fill("RM123456789GB")
    page.get_by_role("button", name="Mark fulfilled").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"Order {one.number} is fulfilled."
    )
    expect(heading).to_contain_text("Fulfilled")
    expect(page.get_by_text("shipped with Royal Mail RM123456789GB")).to_be_visible()
    expect(page.get_by_role("link", name="RM123456789GB")).to_have_attribute(
        "href", re.compile(r"royalmail\.com/.*RM123456789GB$")
    )
    expect(page.get_by_role("button", name="Mark fulfilled")).to_have_count(0)

    # Refund one of the second's two mugs, by line, putting it back on the shelf.
    nav_link(page, "Ops", "Order queue").click()
    page.get_by_role("link", name=two.number, exact=True).click()
    expect(heading).to_contain_text(f"Order {two.number}")
    expect(
        page.get_by_role("listitem").filter(has_text="pi_ops2 £31.95")
    ).to_contain_text("applied")
    page.get_by_text("Refund (up to £31.95)").click()
    page.get_by_label(f"Refund units of {variant.sku}").fill("1")
    page.get_by_label("Reason", exact=True).select_option(
        label="Requested by the customer"
    )
    page.get_by_label(f"Restock {variant.sku}").fill("1")
    page.get_by_role("button", name="Refund", exact=True).click()
    expect(page.locator(".confirm-statements")).to_contain_text(
        f"Refund £14.00 of order {two.number} for 1 × {variant.sku} to the card"
    )
    expect(page.locator(".confirm-statements")).to_contain_text(
        f"Restock 1 × {variant.sku}."
    )
    a11y.check("refund confirmation")
    page.get_by_role("button", name="Refund now").click()
    expect(page).to_have_url(f"{url}/ops/orders/{two.number}/")
    expect(page.get_by_role("status")).to_contain_text(re.compile(r"^\s*Refund re_"))
    expect(heading).to_contain_text("Partly refunded")
    expect(page.get_by_role("heading", name="Refunds")).to_be_visible()
    refund_row = page.locator("aside").get_by_role("listitem").filter(has_text="£14.00")
    expect(refund_row).to_contain_text("succeeded")
    expect(refund_row).to_contain_text("restocked")
    expect(page.get_by_text("Refund (up to £17.95)")).to_be_visible()
    expect(
        page.locator(".timeline li").filter(has_text="Refund requested")
    ).to_contain_text("£14.00")
    a11y.check("ops order (refunded)")

    # The customer's page from the order: their orders and lifetime value.
    page.get_by_role("link", name=re.compile("^Customer page")).click()
    expect(page.get_by_role("heading", name="Orders (3)")).to_be_visible()
    expect(page.get_by_text("Lifetime value (net)")).to_be_visible()
    a11y.check("ops customer")
    page.go_back()

    # Fulfil it from the queue, in bulk.
    nav_link(page, "Ops", "Order queue").click()
    page.get_by_role("checkbox", name=f"Select {two.number}").check()
    page.get_by_role("button", name="Fulfil selected").click()
    expect(page.locator(".confirm-statements")).to_contain_text(
        f"Mark 1 paid order(s) as fulfilled (shipped, without a carrier or tracking "
        f"reference): {two.number}."
    )
    page.get_by_role("button", name="Fulfil them").click()
    expect(page).to_have_url(f"{url}/ops/")
    expect(page.get_by_role("status")).to_contain_text("Fulfilled 1 order(s).")
    expect(
        page.get_by_role("heading", name="Paid, not yet fulfilled: 0")
    ).to_be_visible()
    row = page.get_by_role("row").filter(has_text=two.number)
    expect(cell(row, "Status")).to_contain_text("Fulfilled")
    expect(page.get_by_role("checkbox", name=f"Select {two.number}")).to_have_count(0)

    # Stock: 5 received, 3 sold, 1 restocked; the pending order holds 1.
    nav_link(page, "Ops", "Stock").click()
    expect(page.get_by_role("heading", name="Stock", level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has_text=variant.sku)
    expect(cell(row, "On hand")).to_have_text("3")
    expect(cell(row, "Reserved")).to_have_text("1")
    expect(cell(row, "Available")).to_have_text("2")
    a11y.check("stock")
    page.get_by_label(f"Change for {variant.sku}").fill("10")
    page.get_by_label(f"Reason for {variant.sku}").fill("Delivery from the potter")
    row.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"{variant.sku}: stock is now 13."
    )
    expect(cell(row, "On hand")).to_have_text("13")
    expect(cell(row, "Available")).to_have_text("12")

    # The failed Stripe event: seen with its error, reprocessed, processed.
    nav_link(page, "Ops", "Stripe events").click()
    expect(page.get_by_role("heading", name="Stripe events", level=1)).to_be_visible()
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"[?&]status=failed"))
    failed = page.get_by_role("row").filter(has_text="payment_intent.succeeded")
    expect(failed).to_have_count(1)
    expect(cell(failed, "Status")).to_have_text("failed")
    expect(cell(failed, "Error")).to_contain_text("injected: connection lost")
    a11y.check("stripe events")
    failed.get_by_role("button", name="Reprocess").click()
    expect(page.get_by_role("status")).to_contain_text("Reprocessed: 1 processed.")
    expect(page.get_by_text("No events with status failed.")).to_be_visible()
    page.get_by_label("Status").select_option("processed")
    page.get_by_role("button", name="Filter").click()
    expect(
        page.get_by_role("row").filter(has_text="payment_intent.succeeded")
    ).to_have_count(3)

    # Nothing needs attention; the reprocessed payment paid the pending order.
    nav_link(page, "Ops", "Needs attention").click()
    expect(page.get_by_role("heading", name="Needs attention", level=1)).to_be_visible()
    expect(page.get_by_text("Nothing needs attention")).to_be_visible()
    a11y.check("needs attention")
    nav_link(page, "Ops", "Order queue").click()
    row = page.get_by_role("row").filter(has_text=stuck.number)
    expect(cell(row, "Status")).to_contain_text("Paid")
    expect(
        page.get_by_role("heading", name="Paid, not yet fulfilled: 1")
    ).to_be_visible()

    # What the app wrote.
    for order in (one, two, stuck):
        order.refresh_from_db()
    assert (one.status, one.tracking_reference) == ("fulfilled", "RM123456789GB")
    assert (two.status, two.refund_status, two.refunded_pennies) == (
        "fulfilled",
        "partial",
        1400,
    )
    assert stuck.status == "paid"
    refund = Refund.objects.get(payment__order=two)
    assert (refund.status, refund.requested_by) == ("succeeded", ops_person)
    assert Variant.objects.get(pk=variant.pk).stock_on_hand == 12
    event = StripeEvent.objects.get(
        type="payment_intent.succeeded", payload__data__object__id="pi_ops3"
    )
    assert (event.status, event.attempts, event.last_error) == ("processed", 2, "")

    # The customer sees the refund on their order.
    sign_out()
    sign_in("shopper@example.com", path=f"/account/login/?next=/orders/{two.number}/")
    expect(page).to_have_url(f"{url}/orders/{two.number}/")
    expect(heading).to_contain_text("Partly refunded")
    expect(page.get_by_role("heading", name="Refunds", level=2)).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text="£14.00")).to_have_text(
        "£14.00 — refunded"
    )
    a11y.check("customer order (refunded)")
    a11y.assert_clean()
