"""Fixtures for the browser tests: a real Chromium driven by Playwright's sync API.

pytest-playwright is not installed, so the browser, context and page fixtures live
here. The app runs under pytest-django's `live_server` (a real HTTP server in a
thread of this process, on the test database).
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

# Playwright's sync API runs an event loop in the test thread; without this Django
# refuses ORM calls made from it ("You cannot call this from an async context").
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000

PASSWORD = "a-long-pass-123"  # noqa: S105 (test users only)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        reason = f"Chromium not found at {CHROMIUM}: browser tests need it"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    yield page
    page.close()


@pytest.fixture
def password():
    """Every user the e2e fixtures create signs in with this password."""
    return PASSWORD


@pytest.fixture
def mug(transactional_db):
    """A product with one stocked variant, created through the catalogue service."""
    from catalog.services.products import (
        VariantSpec,
        category_get_or_create,
        product_create,
    )

    return product_create(
        name="Stoneware Mug",
        category=category_get_or_create(name="Kitchen"),
        price_pennies=1400,
        description="A sage-glazed stoneware mug that holds a generous 350 ml.",
        variants=[
            VariantSpec(sku="MUG-SAG", option_values={"colour": "Sage"}, stock=5)
        ],
    )


@pytest.fixture
def tea_towel(transactional_db):
    """A second stocked product, without options."""
    from catalog.services.products import (
        VariantSpec,
        category_get_or_create,
        product_create,
    )

    return product_create(
        name="Linen Tea Towel",
        category=category_get_or_create(name="Kitchen"),
        price_pennies=900,
        description="Stonewashed linen that dries a teapot's worth of cups.",
        variants=[VariantSpec(sku="TOWEL-OAT", option_values={}, stock=8)],
    )


@pytest.fixture
def coffee_club(transactional_db):
    """A monthly subscription product, made as `seed_demo` makes them."""
    from catalog.services.products import (
        VariantSpec,
        category_get_or_create,
        product_create,
    )

    return product_create(
        name="Coffee Club",
        category=category_get_or_create(name="Subscriptions"),
        price_pennies=1200,
        description="A bag of freshly roasted beans every month.",
        billing_interval="month",
        variants=[VariantSpec(sku="COFFEE-CLUB-SUB")],
    )


@pytest.fixture
def analyst(transactional_db):
    from accounts.services import user_create

    return user_create(
        email="analyst@example.com",
        password=PASSWORD,
        full_name="Anya Analyst",
        roles=["analyst"],
    )


@pytest.fixture
def shopper(transactional_db):
    from accounts.services import user_create

    return user_create(
        email="shopper@example.com",
        password=PASSWORD,
        full_name="Sam Shopper",
        roles=["customer"],
    )


@pytest.fixture
def ops_person(transactional_db):
    from accounts.services import user_create

    return user_create(
        email="ops@example.com",
        password=PASSWORD,
        full_name="Olive Ops",
        roles=["ops"],
    )


@pytest.fixture
def sign_in(page):
    """Sign in through the login form, as a person would."""

    def sign_in(email, password=PASSWORD, path="/account/login/"):
        if path is not None:
            page.goto(path)
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in", exact=True).click()

    return sign_in


@pytest.fixture
def sign_out(page):
    """Sign out from the header, as a person would."""

    def sign_out():
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("link", name="Sign in")).to_be_visible()

    return sign_out


@pytest.fixture
def a11y(page, request):
    """axe over the journey's main pages: `a11y.check("cart")` on each, then
    `a11y.assert_clean()` at the end (see e2e/accessibility.py)."""
    from e2e.accessibility import AccessibilityAudit

    audit = AccessibilityAudit(page)
    yield audit
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.passed:
        # A journey that failed before its end reports that failure, not this one.
        assert not audit.failures, "end the journey with a11y.assert_clean()"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, for fixtures' teardown."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
