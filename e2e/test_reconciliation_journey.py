"""The accountant's question in a real Chromium: which orders make up a payout?

An analyst opens the reconciliation page, clicks a payout (click 1) and the order
of one of its lines (click 2), and reads that order's lines: from the money that
reached the bank to the products behind it in two clicks (issue 15).

The data goes through the real pipeline: orders paid through the offline Stripe
gateway (signed events to the webhook, each charge with its balance transaction
at UK card pricing), then Stripe's daily payouts and the settlement sync run on
the following mornings, as the scheduler runs them.
"""

import datetime as dt

import pytest
import time_machine
from playwright.sync_api import expect

from e2e.pages import cell
from payments.tests.offline_books import uk_fee

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _pounds(pennies):
    return f"£{pennies / 100:,.2f}"


@pytest.fixture
def paid_out(mug, tea_towel, shopper):
    """Six days ago at 10:00 UTC: one order of two mugs and a tea towel, one of a
    mug; Stripe's payouts on the three mornings after (the first pays both)."""
    from orders.tests.factories import place_order
    from payments.gateway import OfflineGateway
    from payments.models import Payout
    from payments.services.settlement_sync import settlement_run

    today = dt.datetime.now(dt.UTC).date()
    day0 = dt.datetime.combine(today - dt.timedelta(days=6), dt.time(10), dt.UTC)
    mug_variant, towel_variant = mug.variants.get(), tea_towel.variants.get()
    orders = []
    with time_machine.travel(day0, tick=False):
        for n, variants in enumerate(
            [{mug_variant: 2, towel_variant: 1}, {mug_variant: 1}]
        ):
            order = place_order(customer=shopper, variants=variants)
            # Outside a transaction the signed events are delivered at once.
            OfflineGateway().pay(order=order, session_id=f"cs_e2e_recon_{n}")
            order.refresh_from_db()
            assert order.status == "paid"
            orders.append(order)
    for n in (2, 3, 4):
        moment = dt.datetime.combine(
            day0.date() + dt.timedelta(days=n), dt.time(1), dt.UTC
        )
        with time_machine.travel(moment, tick=False):
            settlement_run()
    payout = Payout.objects.get()
    assert payout.status == "paid" and payout.lines_fetched_at is not None
    return {"orders": orders, "payout": payout}


def test_analyst_goes_from_a_payout_to_the_order_lines_behind_it_in_two_clicks(
    page, live_server, analyst, paid_out, sign_in, a11y
):
    big, small = paid_out["orders"]
    payout = paid_out["payout"]
    nets = [o.total_pennies - uk_fee(o.total_pennies) for o in (big, small)]
    amount = _pounds(sum(nets))

    sign_in("analyst@example.com", path="/account/login/?next=/analytics/")
    page.goto("/analytics/reconciliation/")
    expect(page.get_by_role("heading", name="Reconciliation", level=1)).to_be_visible()
    payouts = page.get_by_role("region", name="Payouts", exact=True)
    row = payouts.get_by_role("row").filter(has_text=payout.stripe_payout_id)
    expect(cell(row, "Amount")).to_have_text(amount)
    expect(cell(row, "Net of lines")).to_have_text(amount)
    expect(cell(row, "Difference")).to_have_text("£0.00")
    expect(cell(row, "Status")).to_have_text("Paid")
    a11y.check("reconciliation")

    # Click 1: the payout, and the balance transactions it paid out.
    row.get_by_role("link", name=payout.stripe_payout_id, exact=True).click()
    expect(
        page.get_by_role("heading", name=f"Payout {payout.stripe_payout_id}", level=1)
    ).to_be_visible()
    lines = page.get_by_role("region", name="Payout lines")
    expect(lines.get_by_role("row")).to_have_count(3)  # a header and two charges
    for order, net in zip((big, small), nets, strict=True):
        line = lines.get_by_role("row").filter(has_text=order.number)
        expect(cell(line, "Amount")).to_have_text(_pounds(order.total_pennies))
        expect(cell(line, "Fee")).to_have_text(_pounds(uk_fee(order.total_pennies)))
        expect(cell(line, "Net")).to_have_text(_pounds(net))
    expect(page.get_by_role("main")).to_contain_text("reconciled to the penny")
    a11y.check("payout")

    # Click 2: the order of a line, and its lines.
    lines.get_by_role("link", name=big.number, exact=True).click()
    expect(
        page.get_by_role("heading", name=f"Order {big.number}", level=1)
    ).to_be_visible()
    order_lines = page.get_by_role("region", name="Order lines")
    rows = order_lines.get_by_role("row")
    expect(rows).to_have_count(1 + big.lines.count())
    for line in big.lines.all():
        product_row = rows.filter(has_text=line.product_name)
        expect(cell(product_row, "Quantity")).to_have_text(str(line.quantity))
        expect(cell(product_row, "Line total")).to_have_text(
            _pounds(line.line_total_pennies)
        )
    expect(order_lines).to_contain_text("Stoneware Mug")
    expect(order_lines).to_contain_text("Linen Tea Towel")
    # Its money at Stripe links back to the payout that paid it.
    expect(
        page.get_by_role("region", name="Balance transactions").get_by_role(
            "link", name=payout.stripe_payout_id
        )
    ).to_be_visible()
    a11y.check("order behind a payout")
    a11y.assert_clean()
