import datetime as dt
import re

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.services import user_set_roles
from audit.models import AuditLog

pytestmark = pytest.mark.django_db


def _signup(client, email="new.person@example.com"):
    return client.post(
        reverse("accounts:signup"),
        {
            "email": email,
            "full_name": "New Person",
            "password1": "a-long-enough-pass-99",
            "password2": "a-long-enough-pass-99",
        },
    )


def test_signup_creates_a_customer_waiting_for_confirmation_and_audits_it(client):
    response = _signup(client, "New.Person@Example.com")
    assert response.status_code == 200
    assert "Check your inbox" in response.content.decode()
    user = User.objects.get(email="new.person@example.com")
    assert user.roles == {"customer"} and user.email_verification_pending
    events = set(
        AuditLog.objects.filter(target_id=str(user.pk)).values_list(
            "event_type", flat=True
        )
    )
    assert {"accounts.signup", "accounts.user_created"} <= events


def _page(response, email):
    """The page with the address, and what differs per request, blanked."""
    text = response.content.decode().replace(email, "EMAIL")
    return re.sub(r'(nonce|value)="[^"]*"', r'\1=""', text)


def test_signup_with_a_taken_email_answers_the_same_and_changes_nothing(
    client, customer
):
    fresh = _page(_signup(client, "someone.new@example.com"), "someone.new@example.com")
    taken_response = _signup(Client(), customer.email.upper())
    taken = _page(taken_response, customer.email.lower())
    assert taken_response.status_code == 200
    assert "already exists" not in taken
    assert taken == fresh
    assert User.objects.filter(email__iexact=customer.email).count() == 1
    customer.refresh_from_db()
    assert not customer.email_verification_pending


def test_login_with_email_is_case_insensitive_and_audited(client, customer):
    response = client.post(
        reverse("accounts:login"),
        {"username": customer.email.upper(), "password": "correct-horse-battery"},
    )
    assert response.status_code == 302
    row = AuditLog.objects.get(event_type="auth.login")
    assert row.actor == customer
    assert row.ip_address == "127.0.0.1"
    assert row.request_id


def test_logout_is_audited(client, customer):
    client.force_login(customer)
    assert client.post(reverse("accounts:logout")).status_code == 302
    assert AuditLog.objects.filter(event_type="auth.logout", actor=customer).exists()


def test_a_failed_login_is_audited_by_account_id_never_by_what_was_typed(
    client, customer
):
    response = client.post(
        reverse("accounts:login"), {"username": customer.email, "password": "wrong"}
    )
    assert response.status_code == 200
    row = AuditLog.objects.get(event_type="auth.login_failed")
    assert (row.target_type, row.target_id) == ("accounts.user", str(customer.pk))
    assert row.actor is None and customer.email not in str(row.metadata)
    junk = "=cmd" + "x" * 200 + "@attacker.example"
    client.post(reverse("accounts:login"), {"username": junk, "password": "wrong"})
    unknown = AuditLog.objects.filter(event_type="auth.login_failed").latest("id")
    assert unknown.target_id == "" and junk not in str(unknown.metadata)
    assert unknown.metadata["typed_length"] == len(junk)
    assert len(unknown.metadata["unknown_account_sha256"]) == 16


def test_attempts_during_a_lockout_write_one_row_not_one_each(client, customer):
    def attempt():
        client.post(
            reverse("accounts:login"), {"username": customer.email, "password": "x"}
        )

    for _ in range(5):
        attempt()
    failed = AuditLog.objects.filter(event_type="auth.login_failed").count()
    for _ in range(20):
        attempt()
    assert AuditLog.objects.filter(event_type="auth.login_failed").count() == failed
    [locked] = AuditLog.objects.filter(event_type="auth.locked_out")
    assert locked.target_id == str(customer.pk)


def test_login_is_throttled_after_five_failures(client, customer):
    for _ in range(5):
        client.post(
            reverse("accounts:login"), {"username": customer.email, "password": "bad"}
        )
    locked = client.post(
        reverse("accounts:login"),
        {"username": customer.email, "password": "correct-horse-battery"},
    )
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_role_change_through_the_admin_is_audited_with_its_actor(
    client, admin_user, customer
):
    client.force_login(admin_user)
    ops = Group.objects.get(name="ops")
    customer_group = Group.objects.get(name="customer")
    response = client.post(
        reverse("admin:accounts_user_change", args=[customer.pk]),
        {
            "email": customer.email,
            "full_name": customer.full_name,
            "groups": [ops.pk, customer_group.pk],
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    row = AuditLog.objects.filter(
        event_type="accounts.role_changed", target_id=str(customer.pk)
    ).latest("id")
    assert row.metadata == {"added": ["ops"], "removed": []}
    assert row.actor == admin_user
    assert row.actor_role == "admin"


def test_role_change_through_the_service_records_added_and_removed(customer):
    before = AuditLog.objects.count()
    user_set_roles(user=customer, roles=["analyst"])
    changes = [
        r.metadata
        for r in AuditLog.objects.filter(
            event_type="accounts.role_changed", id__gt=before
        ).order_by("id")
    ]
    assert {"added": [], "removed": ["customer"]} in changes
    assert {"added": ["analyst"], "removed": []} in changes
    assert User.objects.get(pk=customer.pk).roles == {"analyst"}


def test_role_change_from_the_group_side_is_audited(customer):
    Group.objects.get(name="ops").user_set.add(customer)
    row = AuditLog.objects.filter(event_type="accounts.role_changed").latest("id")
    assert row.target_id == str(customer.pk)
    assert row.metadata == {"added": ["ops"], "removed": []}


def test_admin_role_without_superuser_can_use_the_admin_site(client, admin_user):
    assert not admin_user.is_superuser and not admin_user.is_staff
    client.force_login(admin_user)
    assert client.get(reverse("admin:accounts_user_changelist")).status_code == 200


def test_role_names_only_count_when_they_are_roles(make_user):
    user = make_user()
    user.groups.add(Group.objects.create(name="book-club"))
    assert User.objects.get(pk=user.pk).roles == frozenset()


def _sign_in(client, user, password, *, client_ip):
    return client.post(
        reverse("accounts:login"),
        {"username": user.email, "password": password},
        REMOTE_ADDR="10.0.0.2",  # the proxy
        HTTP_X_FORWARDED_FOR=f"{client_ip}",
    )


def test_behind_a_proxy_an_attacker_locks_out_only_themselves(settings, customer):
    """With TRUSTED_PROXY_COUNT=1 the lockout keys on the address the proxy saw:
    five wrong passwords from one client leave the real user free elsewhere.
    (Staff names are never locked: test_two_factor.py, the progressive delay.)"""
    settings.TRUSTED_PROXY_COUNT = 1
    attacker, office = Client(), Client()
    for _ in range(5):
        _sign_in(attacker, customer, "wrong", client_ip="198.51.100.66")
    locked = _sign_in(
        attacker, customer, "correct-horse-battery", client_ip="198.51.100.66"
    )
    assert locked.status_code == 429
    signed_in = _sign_in(
        office, customer, "correct-horse-battery", client_ip="203.0.113.5"
    )
    assert signed_in.status_code == 302 and "_auth_user_id" in office.session
    login = AuditLog.objects.filter(event_type="auth.login").latest("id")
    assert login.ip_address == "203.0.113.5"


def test_a_forwarded_address_the_client_wrote_is_ignored(settings, customer, client):
    settings.TRUSTED_PROXY_COUNT = 1
    client.post(
        reverse("accounts:login"),
        {"username": customer.email, "password": "wrong"},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.9",  # spoofed, then the proxy's
    )
    assert AuditLog.objects.get(event_type="auth.login_failed").ip_address == (
        "198.51.100.9"
    )
    settings.TRUSTED_PROXY_COUNT = 0  # no proxy: the header is the client's own
    client.post(
        reverse("accounts:login"),
        {"username": customer.email, "password": "wrong"},
        REMOTE_ADDR="192.0.2.1",
        HTTP_X_FORWARDED_FOR="1.2.3.4",
    )
    assert (
        AuditLog.objects.filter(event_type="auth.login_failed").latest("id").ip_address
        == "192.0.2.1"
    )


@pytest.fixture
def one_window():
    """The limits count in fixed windows: the whole test inside one."""
    with time_machine.travel(dt.datetime(2026, 5, 4, 9, 1, tzinfo=dt.UTC), tick=False):
        yield


def test_spraying_many_names_from_one_address_is_stopped(
    settings, make_user, one_window
):
    """Password spraying: one wrong password each for many accounts from one
    address trips the per-address limit before any one account is locked."""
    settings.SIGNIN_FAILURES_PER_ADDRESS = 6
    users = [make_user("customer") for _ in range(8)]
    sprayer, other = Client(), Client()
    answers = [
        sprayer.post(
            reverse("accounts:login"),
            {"username": user.email, "password": "Summer2026!"},
            REMOTE_ADDR="198.51.100.20",
        ).status_code
        for user in users
    ]
    assert answers == [200] * 6 + [429, 429]
    blocked = sprayer.post(
        reverse("accounts:login"),
        {"username": users[0].email, "password": "correct-horse-battery"},
        REMOTE_ADDR="198.51.100.20",
    )
    assert (
        blocked.status_code == 429 and "from your address" in blocked.content.decode()
    )
    fine = other.post(
        reverse("accounts:login"),
        {"username": users[7].email, "password": "correct-horse-battery"},
        REMOTE_ADDR="203.0.113.40",
    )
    assert fine.status_code == 302


def test_a_flood_of_sign_ins_is_refused_site_wide(
    settings, customer, client, one_window
):
    settings.SIGNIN_ATTEMPTS_PER_MINUTE = 3
    codes = [
        client.post(
            reverse("accounts:login"),
            {"username": customer.email, "password": "correct-horse-battery"},
            REMOTE_ADDR=f"192.0.2.{n}",
        ).status_code
        for n in range(4)
    ]
    assert codes[:3] == [302, 302, 302] and codes[3] == 429


def test_a_lockout_ends_after_its_cool_off_whatever_is_tried_meanwhile(
    settings, customer, client
):
    """Attempts during a lockout do not restart it (axes' default did), so nobody
    can keep an account locked for ever."""
    start = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)

    def attempt(password):
        return client.post(
            reverse("accounts:login"),
            {"username": customer.email, "password": password},
        )

    with time_machine.travel(start, tick=False):
        for _ in range(5):
            attempt("wrong")
    for minutes in (10, 30, 50):  # still trying while locked
        with time_machine.travel(start + dt.timedelta(minutes=minutes), tick=False):
            assert attempt("wrong").status_code == 429
    after = start + dt.timedelta(hours=settings.AXES_COOLOFF_TIME, minutes=1)
    with time_machine.travel(after, tick=False):
        assert attempt("correct-horse-battery").status_code == 302
