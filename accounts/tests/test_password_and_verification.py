"""Password reset and change, and email confirmation before the first checkout."""

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from audit.models import AuditLog
from catalog.tests.factories import VariantFactory
from core.models import Message

# Messages go out after commit: each request commits, as in production.
pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a-long-enough-pass-99"


@pytest.fixture
def password():
    """The factory users' password (accounts/tests/factories.py)."""
    return "correct-horse-battery"


@pytest.fixture
def deliver(settings):
    """Mail is sent in the committing process and lands in mail.outbox."""
    settings.MESSAGES_DELIVERY = "inline"


def _link(message) -> str:
    return re.search(r"https?://[^\s]+/account/[^\s]+/", message.body).group(0)


def _path(link: str) -> str:
    return re.sub(r"^https?://[^/]+", "", link)


def _signs_in(email, password) -> bool:
    client = Client()
    client.post(reverse("accounts:login"), {"username": email, "password": password})
    return client.get(reverse("accounts:account")).status_code == 200


def _signup(client, email):
    return client.post(
        reverse("accounts:signup"),
        {
            "email": email,
            "full_name": "New Person",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )


def test_a_new_customer_confirms_the_address_before_the_first_checkout(client, deliver):
    _signup(client, "new@example.com")
    user = User.objects.get(email="new@example.com")
    [message] = mail.outbox
    assert message.to == ["new@example.com"]
    assert "Confirm your email address" in message.subject
    # Signed in with the password meanwhile: browsing yes, checkout no.
    client.post(
        reverse("accounts:login"), {"username": "new@example.com", "password": PASSWORD}
    )
    variant = VariantFactory(stock=3)
    client.post(reverse("orders:cart_add"), {"variant": variant.pk, "quantity": 1})
    gate = client.get(reverse("orders:checkout"))
    assert gate.status_code == 403
    assert "Confirm your email address first" in gate.content.decode()
    # The link confirms it, once.
    confirmed = client.get(_path(_link(message)), follow=True)
    assert "new@example.com is confirmed" in confirmed.content.decode()
    user.refresh_from_db()
    assert not user.email_verification_pending
    assert AuditLog.objects.filter(
        event_type="accounts.email_verified", target_id=str(user.pk)
    ).exists()
    assert client.get(reverse("orders:checkout")).status_code == 200
    again = Client().get(_path(_link(message)))
    assert again.status_code == 400


def test_the_confirmation_link_expires(client, deliver, settings):
    _signup(client, "late@example.com")
    link = _path(_link(mail.outbox[0]))
    later = timezone.now() + dt.timedelta(days=settings.EMAIL_VERIFICATION_DAYS + 1)
    with time_machine.travel(later):
        assert client.get(link).status_code == 400
    assert User.objects.get(email="late@example.com").email_verification_pending


def test_the_link_can_be_sent_again_from_the_gate(client, deliver):
    _signup(client, "again@example.com")
    client.post(
        reverse("accounts:login"),
        {"username": "again@example.com", "password": PASSWORD},
    )
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=2)):
        client.post(reverse("accounts:verify_resend"))
    assert len(mail.outbox) == 2
    assert mail.outbox[1].to == ["again@example.com"]


def test_a_taken_address_gets_an_email_and_keeps_its_password(
    client, customer, password, deliver
):
    _signup(client, customer.email)
    [message] = mail.outbox
    assert message.to == [customer.email]
    assert "already has one" in message.body and "/account/password/reset/" in (
        message.body
    )
    assert _signs_in(customer.email, password)
    assert not _signs_in(customer.email, PASSWORD)


def test_a_password_reset_sets_a_new_password_through_the_emailed_link(
    client, customer, deliver
):
    response = client.post(
        reverse("accounts:password_reset"), {"email": customer.email}, follow=True
    )
    assert "If an account uses that address" in response.content.decode()
    [message] = mail.outbox
    assert message.to == [customer.email]
    assert Message.objects.get(kind="password_reset").status == "sent"
    form = client.get(_path(_link(message)), follow=True)
    assert "Set a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {
            "new_password1": "another-long-pass-42",
            "new_password2": "another-long-pass-42",
        },
        follow=True,
    )
    assert "Your password is set" in done.content.decode()
    assert _signs_in(customer.email, "another-long-pass-42")
    assert AuditLog.objects.filter(
        event_type="accounts.password_reset", target_id=str(customer.pk)
    ).exists()
    used = Client().get(_path(_link(message)), follow=True)
    assert "This link does not work" in used.content.decode()


def test_an_unknown_address_gets_the_same_answer_and_no_email(
    client, customer, deliver
):
    known = client.post(reverse("accounts:password_reset"), {"email": customer.email})
    unknown = Client().post(
        reverse("accounts:password_reset"), {"email": "nobody@example.com"}
    )
    assert (known.status_code, known.url) == (unknown.status_code, unknown.url)
    assert [m.to for m in mail.outbox] == [[customer.email]]


def test_reset_emails_to_one_address_are_limited(client, customer, deliver, settings):
    start = timezone.now()
    for n in range(settings.PASSWORD_RESETS_PER_EMAIL + 2):
        # A second apart: a new link each time (a link names its second).
        with time_machine.travel(start + dt.timedelta(seconds=2 * n)):
            response = Client().post(
                reverse("accounts:password_reset"), {"email": customer.email}
            )
        assert response.status_code == 302
    assert len(mail.outbox) == settings.PASSWORD_RESETS_PER_EMAIL


def test_a_reset_link_expires(client, customer, deliver, settings):
    client.post(reverse("accounts:password_reset"), {"email": customer.email})
    link = _path(_link(mail.outbox[0]))
    later = timezone.now() + dt.timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)
    with time_machine.travel(later):
        page = Client().get(link, follow=True)
    assert "This link does not work" in page.content.decode()


def test_a_signed_in_user_changes_the_password_with_the_old_one(
    client, customer, password
):
    client.force_login(customer)
    url = reverse("accounts:password_change")
    wrong = client.post(
        url,
        {
            "old_password": "not-it",
            "new_password1": "brand-new-pass-77",
            "new_password2": "brand-new-pass-77",
        },
    )
    assert wrong.status_code == 200
    assert "Your old password was entered incorrectly" in wrong.content.decode()
    client.post(
        url,
        {
            "old_password": password,
            "new_password1": "brand-new-pass-77",
            "new_password2": "brand-new-pass-77",
        },
    )
    assert client.get(reverse("accounts:account")).status_code == 200  # still in
    assert _signs_in(customer.email, "brand-new-pass-77")
    assert AuditLog.objects.filter(
        event_type="accounts.password_changed", target_id=str(customer.pk)
    ).exists()
