"""Two-factor sign-in for staff (accounts/two_factor.py), with the default rule:
admins must use a second factor; staff sessions end sooner."""

import datetime as dt
import re

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditLog

pytestmark = [pytest.mark.django_db, pytest.mark.two_factor]
PASSWORD = "correct-horse-battery"  # accounts/tests/factories.py


def _sign_in(client, user, next_url=""):
    url = reverse("accounts:login") + (f"?next={next_url}" if next_url else "")
    return client.post(url, {"username": user.email, "password": PASSWORD})


def _code(device: TOTPDevice) -> str:
    now = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return f"{now:06d}"


def _enrol(client, user) -> tuple[TOTPDevice, list[str]]:
    page = client.get(reverse("accounts:two_factor_setup"))
    assert page.status_code == 200 and "<svg" in page.content.decode()
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    done = client.post(reverse("accounts:two_factor_setup"), {"code": _code(device)})
    codes = re.findall(
        r"<li><code>([0-9a-f]{8}-[0-9a-f]{8})</code></li>", done.content.decode()
    )
    device.refresh_from_db()
    return device, codes


def test_an_admin_cannot_reach_any_page_without_the_second_factor(client, admin_user):
    response = _sign_in(client, admin_user)
    assert response.status_code == 302
    for path in ("/monitoring/", "/admin/", "/ops/", "/analytics/"):
        refused = client.get(path)
        assert refused.status_code == 302
        assert refused.url.startswith(reverse("accounts:two_factor_setup"))


def test_enrolment_needs_a_right_code_then_opens_the_pages(client, admin_user):
    _sign_in(client, admin_user)
    client.get(reverse("accounts:two_factor_setup"))
    wrong = client.post(reverse("accounts:two_factor_setup"), {"code": "000000"})
    assert wrong.status_code == 400
    assert "That code is not right" in wrong.content.decode()
    assert client.get("/monitoring/").status_code == 302
    # django-otp makes the next try wait after a failure (1 s, then 2, 4, ...).
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=3)):
        device, codes = _enrol(client, admin_user)
        assert device.confirmed and len(codes) == 10
        assert client.get("/monitoring/").status_code == 200
    assert AuditLog.objects.filter(event_type="accounts.2fa_enrolled").exists()


def test_the_next_sign_in_asks_for_a_code_and_a_recovery_code_works_once(
    client, admin_user
):
    _sign_in(client, admin_user)
    _, codes = _enrol(client, admin_user)
    second = Client()
    _sign_in(second, admin_user, next_url="/monitoring/")
    gate = second.get("/monitoring/")
    assert gate.url.startswith(reverse("accounts:two_factor_verify"))
    bad = second.post(reverse("accounts:two_factor_verify"), {"code": "123456"})
    assert bad.status_code == 400
    later = timezone.now() + dt.timedelta(seconds=3)  # past django-otp's wait
    with time_machine.travel(later):
        ok = second.post(
            reverse("accounts:two_factor_verify") + "?next=/monitoring/",
            {"code": codes[0], "next": "/monitoring/"},
        )
        assert ok.status_code == 302 and ok.url == "/monitoring/"
        assert second.get("/monitoring/").status_code == 200
        third = Client()
        _sign_in(third, admin_user)
        reused = third.post(reverse("accounts:two_factor_verify"), {"code": codes[0]})
        assert reused.status_code == 400  # a recovery code works once
    assert AuditLog.objects.filter(event_type="accounts.2fa_recovery_used").count() == 1
    assert AuditLog.objects.filter(event_type="accounts.2fa_failed").count() == 2


def test_a_code_from_the_app_verifies_the_sign_in(client, admin_user):
    _sign_in(client, admin_user)
    device, _ = _enrol(client, admin_user)
    other = Client()
    _sign_in(other, admin_user)
    # django-otp refuses a TOTP code it already accepted: use the next step's.
    device.refresh_from_db()
    device.last_t = -1
    device.save(update_fields=["last_t"])
    done = other.post(reverse("accounts:two_factor_verify"), {"code": _code(device)})
    assert done.status_code == 302
    assert other.get("/monitoring/").status_code == 200


def test_ops_need_no_second_factor_unless_the_setting_says(client, ops_user, settings):
    _sign_in(client, ops_user)
    assert client.get("/ops/").status_code == 200
    settings.TWO_FACTOR_REQUIRED_ROLES = ["admin", "ops"]
    other = Client()
    _sign_in(other, ops_user)
    assert other.get("/ops/").status_code == 302


def test_staff_sessions_end_sooner_than_customers(client, ops_user, customer, settings):
    _sign_in(client, ops_user)
    assert client.session.get_expiry_age() == settings.STAFF_SESSION_SECONDS
    shopper = Client()
    _sign_in(shopper, customer)
    assert shopper.session.get_expiry_age() == settings.SESSION_COOKIE_AGE
    assert settings.STAFF_SESSION_SECONDS < settings.SESSION_COOKIE_AGE


def test_the_demo_admin_gets_recovery_codes_that_sign_in(client, capsys):
    from django.core.management import call_command

    call_command("seed_demo", "--customers", "0", "--days", "0")
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "needs a second factor" in x)
    code = re.findall(r"[0-9a-f]{8}-[0-9a-f]{8}", line)[0]
    client.post(
        reverse("accounts:login"),
        {"username": "admin@purelaka.test", "password": "purelaka-demo"},
    )
    assert client.get("/monitoring/").url.startswith(
        reverse("accounts:two_factor_verify")
    )
    client.post(reverse("accounts:two_factor_verify"), {"code": code})
    assert client.get("/monitoring/").status_code == 200


def _wrong(client, user, address="203.0.113.9"):
    return client.post(
        reverse("accounts:login"),
        {"username": user.email, "password": "wrong-password"},
        REMOTE_ADDR=address,
    )


def test_staff_get_a_growing_delay_never_a_lockout(client, ops_user, settings):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            assert _wrong(client, ops_user).status_code == 200
        waiting = _wrong(client, ops_user)
        assert waiting.status_code == 429
        assert "wait 1 second," in waiting.content.decode()
    with time_machine.travel(start + dt.timedelta(seconds=2), tick=False):
        assert _wrong(client, ops_user).status_code == 200  # counted: 6 failures
        assert _wrong(client, ops_user).status_code == 429  # now 2 s more
    with time_machine.travel(start + dt.timedelta(seconds=5), tick=False):
        # The real person, from anywhere, gets in once the wait is over.
        response = Client().post(
            reverse("accounts:login"),
            {"username": ops_user.email, "password": PASSWORD},
            REMOTE_ADDR="198.51.100.7",
        )
        assert response.status_code == 302
    assert not AuditLog.objects.filter(event_type="auth.locked_out").exists()


def test_the_delay_is_capped(settings):
    from accounts.throttle import staff_delay_seconds

    limit = settings.AXES_FAILURE_LIMIT
    assert [staff_delay_seconds(limit + k) for k in (-1, 0, 1, 2)] == [0, 1, 2, 4]
    assert staff_delay_seconds(limit + 40) == settings.STAFF_DELAY_MAX_SECONDS


def test_an_operator_resets_a_lost_second_factor(client, admin_user, capsys):
    from django.core.management import CommandError, call_command

    _sign_in(client, admin_user)
    _enrol(client, admin_user)
    call_command("two_factor_reset", admin_user.email.upper())
    assert "2 device(s) removed" in capsys.readouterr().out
    assert not TOTPDevice.objects.filter(user=admin_user).exists()
    row = AuditLog.objects.get(event_type="accounts.2fa_reset")
    assert row.actor_label.startswith("cli:") and row.metadata == {"devices_removed": 2}
    fresh = Client()
    _sign_in(fresh, admin_user)
    assert fresh.get("/monitoring/").url.startswith(
        reverse("accounts:two_factor_setup")
    )
    with pytest.raises(CommandError, match=r"no account has the email nobody@x\.test"):
        call_command("two_factor_reset", "nobody@x.test")
