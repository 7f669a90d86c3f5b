"""Every main page of every role on a phone (390 px) and a tablet (768 px).

Each role signs in once and opens each of its main pages; at each width the page
must not scroll sideways (wide tables and charts scroll inside their own region),
every visible chart label must be drawn at 11 px or more (the size on screen,
after an SVG's viewBox has scaled it), and axe must find nothing serious at the
phone width.

A page is loaded once and then resized: the layout is CSS only (media queries),
so a resize shows what a load at that width shows, at half the cost.

The data goes through the real services, as in the other journeys: orders paid
through the offline gateway six days ago and paid out by Stripe's settlement sync,
a subscription, an order left unpaid for two days (which the monitoring checks
flag), and 30 days of analytics snapshots, so tables and charts have rows.
"""

import datetime as dt
import io

import pytest
import time_machine
from playwright.sync_api import expect

from e2e.accessibility import axe_violations, describe

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (390, 768)
HEIGHT = 844
MIN_CHART_TEXT_PX = 11
# axe at the phone width: every rule the tablet width gets (max-width: 800px)
# applies there too, and the regions that scroll are the most there.
AXE_WIDTH = 390

# What the page shows at the current width: whether it scrolls sideways (and the
# innermost elements that stick out past the viewport), and every visible SVG text
# drawn below the minimum, at its size on screen (CSS font size × the scale of
# the SVG's viewBox).
MEASURE = """
(minPx) => {
  const doc = document.documentElement;
  const view = window.innerWidth;
  const name = (el) => {
    const cls = typeof el.className === "string" && el.className
      ? "." + el.className.trim().split(/\\s+/).join(".") : "";
    const text = (el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 40);
    return `${el.tagName.toLowerCase()}${cls} "${text}"`;
  };
  const clipped = (el) => {
    for (let p = el.parentElement; p && p !== doc; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== "visible") return true;
    }
    return false;
  };
  // An element's right edge, or that of the text overflowing it.
  const right = (el) => {
    const box = el.getBoundingClientRect();
    return Math.max(box.right, box.left + el.scrollWidth);
  };
  const wide = [];
  if (doc.scrollWidth > view) {
    for (const el of document.body.querySelectorAll("*")) {
      if (!el.checkVisibility() || clipped(el) || right(el) <= view + 0.5) continue;
      const scrolls = getComputedStyle(el).overflowX !== "visible";
      const child = [...el.children].some(
        (c) => c.checkVisibility() && right(c) > view + 0.5
      );
      if (scrolls || !child) {
        wide.push(`${name(el)} ends at ${Math.round(right(el))}px`);
      }
    }
  }
  const small = [];
  for (const t of document.querySelectorAll("svg text")) {
    if (!t.checkVisibility() || !(t.textContent || "").trim()) continue;
    const box = t.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    const m = t.getScreenCTM();
    const scale = m ? Math.hypot(m.a, m.b) : 1;
    const px = parseFloat(getComputedStyle(t).fontSize) * scale;
    if (px < minPx - 0.01) small.push(`${name(t)} at ${px.toFixed(1)}px`);
  }
  return {scrollWidth: doc.scrollWidth, view, wide: wide.slice(0, 6),
          small: small.slice(0, 6), smallCount: small.length};
}
"""


def _place(customer, variants):
    from orders.tests.factories import place_order

    return place_order(customer=customer, variants=variants)


def _subscribe(customer, plan, moment):
    """Subscribe through the offline subscription checkout, at a past moment."""
    from django.urls import resolve

    from demo.history import travel_to
    from payments.gateway import OfflineGateway
    from subscriptions.checkout import subscription_checkout_start

    with travel_to(moment):
        session = subscription_checkout_start(
            customer=customer, variant=plan, success_url="/", cancel_url="/"
        )
        token = resolve(session.url).kwargs["token"]
        OfflineGateway().subscribe(session=OfflineGateway.subscription_session(token))


@pytest.fixture
def shop(mug, tea_towel, coffee_club, shopper):
    """Two orders paid six days ago and paid out; a subscription started 20 days
    ago; an order unpaid for two days, flagged by the checks; the towel on the
    shopper's wishlist; 30 days of snapshots."""
    from django.core.management import call_command
    from django.utils import timezone

    from demo.history import travel_to
    from monitoring.models import DataQualityIssue
    from monitoring.services import checks_run
    from payments.gateway import OfflineGateway
    from payments.models import Payout
    from payments.services.settlement_sync import settlement_run
    from wishlist.services import wishlist_add

    mug_variant, towel_variant = mug.variants.get(), tea_towel.variants.get()
    today = dt.datetime.now(dt.UTC).date()
    day0 = dt.datetime.combine(today - dt.timedelta(days=6), dt.time(10), dt.UTC)
    _subscribe(shopper, coffee_club.variants.get(), timezone.now() - dt.timedelta(20))
    paid = []
    with time_machine.travel(day0, tick=False):
        for n, variants in enumerate(
            [{mug_variant: 2, towel_variant: 1}, {mug_variant: 1}]
        ):
            order = _place(shopper, variants)
            OfflineGateway().pay(order=order, session_id=f"cs_e2e_responsive_{n}")
            order.refresh_from_db()
            assert order.status == "paid"
            paid.append(order)
    for n in (2, 3, 4):
        moment = dt.datetime.combine(
            day0.date() + dt.timedelta(days=n), dt.time(1), dt.UTC
        )
        with time_machine.travel(moment, tick=False):
            settlement_run()
    with travel_to(timezone.now() - dt.timedelta(days=2)):
        unpaid = _place(shopper, {towel_variant: 1})
    checks_run()
    wishlist_add(customer=shopper, product=tea_towel)
    call_command("build_analytics_snapshots", "--days", "30", stdout=io.StringIO())
    return {
        "paid": paid,
        "unpaid": unpaid,
        "payout": Payout.objects.get(),
        "issue": DataQualityIssue.objects.order_by("pk").first(),
    }


@pytest.fixture
def admin_person(transactional_db, password):
    from accounts.roles import Role
    from accounts.services import role_groups, user_create

    role_groups(Role.values)  # an earlier transactional test may have flushed them
    return user_create(
        email="admin@example.com",
        password=password,
        full_name="Ada Admin",
        roles=["admin"],
    )


class Fit:
    """Each page at each width: no sideways scroll, chart text at 11 px or more;
    axe clean at the phone width. Collects every failure, so that one run names
    every page that needs work."""

    def __init__(self, page):
        self.page = page
        self.checked = []
        self.failures = []

    def open(self, path):
        response = self.page.goto(path)
        status = response.status if response is not None else "no response"
        assert response is not None and response.ok, f"{path}: {status}"
        # The page asked for, not a login page or a redirect elsewhere.
        assert self.page.url.split("?")[0].endswith(path.split("?")[0]), (
            f"{path} went to {self.page.url}"
        )
        expect(self.page.locator("h1").first).to_be_visible()
        self.check(path)

    def check(self, name):
        for width in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": HEIGHT})
            where = f"{name} at {width}px"
            self.checked.append(where)
            found = self.page.evaluate(MEASURE, MIN_CHART_TEXT_PX)
            if found["scrollWidth"] > found["view"]:
                self.failures.append(
                    f"{where} scrolls sideways ({found['scrollWidth']}px wide): "
                    + "; ".join(found["wide"])
                )
            if found["smallCount"]:
                self.failures.append(
                    f"{where}: {found['smallCount']} chart label(s) under "
                    f"{MIN_CHART_TEXT_PX}px: " + "; ".join(found["small"])
                )
            if width != AXE_WIDTH:
                continue
            violations = axe_violations(self.page)
            if violations:
                self.failures.append(f"{where} (axe):\n{describe(violations)}")

    def assert_clean(self):
        assert self.checked, "no page was checked"
        if self.failures:
            raise AssertionError(
                f"{len(self.failures)} problem(s) over {len(self.checked)} "
                "page widths:\n" + "\n".join(self.failures)
            )


@pytest.fixture
def fit(page):
    page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
    return Fit(page)


def test_customer_pages_fit_a_phone_and_a_tablet(page, shop, shopper, sign_in, fit):
    paid, unpaid = shop["paid"][0], shop["unpaid"]

    fit.open("/account/login/")
    fit.open("/account/signup/")
    sign_in("shopper@example.com")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    fit.open("/")
    fit.open("/products/")
    fit.open("/products/stoneware-mug/")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("status")).to_contain_text("to your cart")
    fit.check("/cart/ (with a mug)")
    fit.open("/checkout/")
    fit.open("/wishlist/")
    fit.open("/orders/")
    fit.open(f"/orders/{paid.number}/")
    fit.open(f"/orders/{unpaid.number}/")
    fit.open("/account/subscriptions/")
    fit.open("/account/")
    fit.open("/account/password/change/")
    fit.assert_clean()


def test_ops_pages_fit_a_phone_and_a_tablet(page, shop, mug, ops_person, sign_in, fit):
    from django.urls import reverse

    paid = shop["paid"][0]

    sign_in("ops@example.com")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    fit.open("/ops/")
    fit.open(f"/ops/orders/{paid.number}/")
    fit.open(reverse("customers_ops:customer", args=[paid.customer_id]))
    fit.open(f"/ops/orders/packing-slips/?orders={paid.number}")
    fit.open("/ops/stock/")
    fit.open(reverse("ops:stock_movements", args=[mug.variants.get().pk]))
    fit.open("/ops/payments/")
    fit.open("/ops/payments/events/")
    fit.open("/monitoring/")
    fit.open(f"/monitoring/issues/{shop['issue'].pk}/")
    fit.open("/analytics/ops/")
    fit.open("/analytics/exports/")
    fit.open("/analytics/definitions/")
    fit.open("/account/")
    fit.assert_clean()


def test_analyst_pages_fit_a_phone_and_a_tablet(page, shop, analyst, sign_in, fit):
    paid, payout = shop["paid"][0], shop["payout"]

    sign_in("analyst@example.com")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    fit.open("/analytics/")
    fit.open("/analytics/customers/")
    fit.open("/analytics/products/")
    fit.open("/analytics/subscriptions/")
    fit.open("/analytics/ops/")
    fit.open("/analytics/reconciliation/")
    fit.open(f"/analytics/reconciliation/payouts/{payout.stripe_payout_id}/")
    fit.open(f"/analytics/reconciliation/orders/{paid.number}/")
    fit.open("/analytics/definitions/")
    fit.open("/analytics/exports/")
    fit.open("/account/")
    fit.assert_clean()


def test_admin_pages_fit_a_phone_and_a_tablet(page, shop, admin_person, sign_in, fit):
    sign_in("admin@example.com")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    fit.open("/monitoring/")
    fit.open(f"/monitoring/issues/{shop['issue'].pk}/")
    fit.open("/monitoring/audit/")
    fit.open("/account/staff/")
    fit.open("/admin/")
    fit.open("/admin/accounts/user/")
    fit.open("/account/")
    fit.assert_clean()
