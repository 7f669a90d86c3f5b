"""Email verification at sign-up, and a sign-up that never says who has an account.

Sign-up answers the same page whatever the address ("check your inbox"):
- a new address gets an account with `email_verification_pending` and a link that
  confirms it (and signs them in);
- an address that already has an account gets no second account and no change to
  the first, but an email saying so, with links to sign in and to reset the
  password; the page cannot tell the two apart (both hash the password, both send).

An unconfirmed customer may sign in and browse; checkout waits for the address
(`verified_email_required`). Links are Django's token scheme keyed on the
account's state, so a link stops working once used; they last
`EMAIL_VERIFICATION_DAYS`.
"""

from functools import wraps

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.shortcuts import render
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import (
    urlsafe_base64_decode,
    urlsafe_base64_encode,
)

from accounts.models import User
from accounts.tokens import LifetimeTokens
from audit.services import audit_record
from core.mail import message_send


class VerificationTokens(LifetimeTokens):
    key_salt = "accounts.verification.VerificationTokens"

    def lifetime_seconds(self) -> int:
        return settings.EMAIL_VERIFICATION_DAYS * 24 * 3600

    def _make_hash_value(self, user, timestamp):
        return f"{user.pk}{user.email}{user.email_verification_pending}{timestamp}"


tokens = VerificationTokens()


def verification_link(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse("accounts:verify", args=[uid, tokens.make_token(user)])
    return f"{settings.SITE_URL}{path}"


def verification_send(user: User) -> None:
    """Email the link that confirms the address (after commit, recorded)."""
    message_send(
        kind="account_verify",
        to=user.email,
        context={"user": user, "link": verification_link(user)},
        target=user,
        dedupe_key=tokens.make_token(user)[:100],
    )


def signup_taken_send(user: User) -> None:
    """Tell an account holder that someone signed up with their address."""
    message_send(
        kind="signup_existing",
        to=user.email,
        context={
            "user": user,
            "login_url": f"{settings.SITE_URL}{reverse('accounts:login')}",
            "reset_url": f"{settings.SITE_URL}{reverse('accounts:password_reset')}",
        },
        target=user,
        dedupe_key=tokens.make_token(user)[:100],
    )


def signup_existing(*, user: User, password: str) -> None:
    """The sign-up of an address that has an account: hash the password as a new
    account would (the same time), change nothing, tell the holder."""
    make_password(password)
    audit_record(event_type="accounts.signup_existing", actor=None, target=user)
    signup_taken_send(user)


def verification_confirm(*, uidb64: str, token: str) -> User | None:
    """The user a valid link confirms (now verified, audited), or None."""
    try:
        pk = int(urlsafe_base64_decode(uidb64).decode())
        user = User.objects.get(pk=pk, is_active=True)
    except (
        ValueError,
        TypeError,
        OverflowError,
        UnicodeDecodeError,
        User.DoesNotExist,
    ):
        return None
    if not user.email_verification_pending:
        return user if tokens.check_token(user, token) else None
    if not tokens.check_token(user, token):
        return None
    user.email_verification_pending = False
    user.save(update_fields=["email_verification_pending"])
    audit_record(event_type="accounts.email_verified", actor=user, target=user)
    return user


def verified_email_required(view):
    """Checkout waits for a confirmed address: an unconfirmed customer gets a page
    that says so and offers the link again."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and user.email_verification_pending:
            return render(
                request,
                "accounts/verify_needed.html",
                {"email": user.email},
                status=403,
            )
        return view(request, *args, **kwargs)

    return wrapped
