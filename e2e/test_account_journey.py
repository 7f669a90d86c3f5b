"""Accounts in a real Chromium: an admin enrols a second factor and signs in with
it; a customer who forgot the password sets a new one from the emailed link."""

import base64
import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _totp(secret: str) -> str:
    from django_otp.oath import totp

    return f"{totp(base64.b32decode(secret)):06d}"


@pytest.fixture
def admin_person(transactional_db):
    from accounts.services import user_create
    from e2e.conftest import PASSWORD

    return user_create(
        email="admin@example.com",
        password=PASSWORD,
        full_name="Ada Admin",
        roles=["admin"],
    )


@pytest.mark.two_factor
def test_an_admin_enrols_a_second_factor_and_signs_in_with_it(
    page, live_server, admin_person, sign_in, sign_out, a11y
):
    url = live_server.url
    sign_in("admin@example.com", path="/account/login/?next=/monitoring/")
    # No page without the second factor: set one up first.
    expect(page).to_have_url(re.compile(r"/account/2fa/setup/\?next="))
    page.goto(f"{url}/monitoring/")
    expect(page).to_have_url(re.compile(r"/account/2fa/setup/"))
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    a11y.check("two-factor setup")
    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("Sign-in code").fill(_totp(secret))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Two-factor sign-in is on")).to_be_visible()
    codes = page.get_by_role("list", name="Recovery codes").get_by_role("listitem")
    expect(codes).to_have_count(10)
    recovery = codes.first.inner_text()
    page.get_by_role("link", name="Continue").click()
    expect(page).to_have_url(f"{url}/monitoring/")

    # The next sign-in asks for a code; a recovery code works once.
    sign_out()
    sign_in("admin@example.com", path="/account/login/?next=/monitoring/")
    expect(page.get_by_role("heading", name="Enter your sign-in code")).to_be_visible()
    a11y.check("two-factor verify")
    page.get_by_label("Sign-in code").fill(recovery)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{url}/monitoring/")
    a11y.assert_clean()


def test_a_customer_resets_a_forgotten_password_from_the_emailed_link(
    page, live_server, shopper, sign_in, a11y
):
    from core.models import Message

    url = live_server.url
    page.goto(f"{url}/account/login/")
    page.get_by_role("link", name="Forgotten your password?").click()
    a11y.check("password reset")
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_role("button", name="Send the link").click()
    unknown = page.locator("main").inner_text()
    page.goto(f"{url}/account/password/reset/")
    page.get_by_label("Email").fill("shopper@example.com")
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    assert page.locator("main").inner_text() == unknown  # the same answer
    [message] = Message.objects.filter(kind="password_reset")
    assert message.recipient == "shopper@example.com"
    link = re.search(r"https?://\S+/account/password/reset/\S+/", message.body_text)
    path = re.sub(r"^https?://[^/]+", "", link.group(0))
    page.goto(f"{url}{path}")
    expect(page.get_by_role("heading", name="Set a new password")).to_be_visible()
    page.get_by_label("New password", exact=True).fill("a-fresh-pass-2026")
    page.get_by_label("New password confirmation").fill("a-fresh-pass-2026")
    page.get_by_role("button", name="Set the password").click()
    expect(page.get_by_role("heading", name="Your password is set")).to_be_visible()
    sign_in("shopper@example.com", password="a-fresh-pass-2026")  # noqa: S106
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    a11y.assert_clean()
