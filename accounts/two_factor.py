"""Two-factor sign-in for staff (issue 19), through django-otp.

**Who**: a user with a role in `TWO_FACTOR_REQUIRED_ROLES` (admin by default; ops
and analyst when the setting names them) must have a confirmed TOTP device, and
anyone who has one must use it. After the password, such a user is signed in but
*unverified*: `TwoFactorMiddleware` lets them reach only the second-factor pages
(and sign-out) until a code from their authenticator app, or one of their ten
single-use recovery codes, verifies the session (`django_otp.login`).

**Enrolment**: a user who must have a device and has none is sent to set one up:
the page shows the secret as a QR code (SVG, drawn here) and as text, and the
device counts once a code from it is entered; the recovery codes are shown once.
Every step is audited: `accounts.2fa_enrolled`, `accounts.2fa_verified`,
`accounts.2fa_failed`, `accounts.2fa_recovery_used`.
"""

import secrets

import segno
from django.conf import settings
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django_otp import user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.services import audit_record

RECOVERY_CODES = 10
ISSUER = "PureLaka"
# What an unverified user may still reach: the second-factor pages and sign-out.
OPEN_URL_NAMES = {
    "accounts:two_factor_verify",
    "accounts:two_factor_setup",
    "accounts:logout",
}


def two_factor_required(user) -> bool:
    return bool(set(user.roles) & set(settings.TWO_FACTOR_REQUIRED_ROLES))


def needs_second_factor(user) -> bool:
    """Signed in with the password, but not (yet) with the second factor."""
    if not user.is_authenticated or user.is_verified():
        return False
    return two_factor_required(user) or user_has_device(user, confirmed=True)


def pending_totp(user) -> TOTPDevice:
    """The unconfirmed device being set up (a fresh secret the first time)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(
        user=user, name="Authenticator app", confirmed=False
    )


def provisioning_svg(device: TOTPDevice) -> str:
    """The otpauth:// URI as an inline SVG QR code (no script, no external image)."""
    return segno.make(device.config_url, error="m").svg_inline(scale=4)


@transaction.atomic
def enrol_confirm(*, user, device: TOTPDevice, token: str) -> list[str] | None:
    """Confirm the device with a code from it: the recovery codes (shown once),
    or None for a wrong code. Replaces any earlier device and codes."""
    if not device.verify_token(token):
        audit_record(event_type="accounts.2fa_failed", actor=user, target=user)
        return None
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    StaticDevice.objects.filter(user=user).delete()
    codes = StaticDevice.objects.create(user=user, name="Recovery codes")
    plain = [_recovery_code() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=codes, token=c) for c in plain)
    audit_record(event_type="accounts.2fa_enrolled", actor=user, target=user)
    return [recovery_code_display(code) for code in plain]


def verify_code(*, user, token: str):
    """The device a code (TOTP or recovery) verifies for `user`, or None; audited."""
    token = _typed_code(token)
    for device in TOTPDevice.objects.filter(user=user, confirmed=True):
        if device.verify_token(token):
            audit_record(event_type="accounts.2fa_verified", actor=user, target=user)
            return device
    for device in StaticDevice.objects.filter(user=user, confirmed=True):
        if device.verify_token(token):  # a recovery code works once
            audit_record(
                event_type="accounts.2fa_recovery_used",
                actor=user,
                target=user,
                metadata={"left": device.token_set.count()},
            )
            return device
    audit_record(event_type="accounts.2fa_failed", actor=user, target=user)
    return None


class TwoFactorMiddleware:
    """Keeps a session that still owes its second factor on the second-factor
    pages: every other page redirects there (setup when no device exists yet)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if match is None or match.view_name in OPEN_URL_NAMES:
            return None
        user = getattr(request, "user", None)
        if user is None or not needs_second_factor(user):
            return None
        has_device = user_has_device(user, confirmed=True)
        target = (
            "accounts:two_factor_verify" if has_device else "accounts:two_factor_setup"
        )
        query = urlencode({"next": request.get_full_path()})
        return redirect(f"{reverse(target)}?{query}")


@transaction.atomic
def recovery_codes_ensure(user) -> list[str]:
    """The user's unused recovery codes, issuing ten when they have none (the demo
    admin's way in without an authenticator app)."""
    device = StaticDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = StaticDevice.objects.create(user=user, name="Recovery codes")
    if not device.token_set.exists():
        StaticToken.objects.bulk_create(
            StaticToken(device=device, token=_recovery_code())
            for _ in range(RECOVERY_CODES)
        )
    codes = device.token_set.order_by("id").values_list("token", flat=True)
    return [recovery_code_display(code) for code in codes]


def _recovery_code() -> str:
    """16 hex digits (django-otp keeps at most 16 characters a code)."""
    return secrets.token_hex(8)


def recovery_code_display(code: str) -> str:
    """A stored code as the user reads it: two groups of eight ("1a2b3c4d-…")."""
    return f"{code[:8]}-{code[8:]}"


def _typed_code(token: str) -> str:
    """What the user typed, as the codes are stored: no spaces or dashes, lower."""
    return "".join(token.split()).replace("-", "").lower()


@transaction.atomic
def two_factor_reset(*, user, actor_label: str) -> int:
    """Remove a user's second-factor devices (a lost phone): their next sign-in
    sets one up again. Audited; returns how many devices went."""
    devices = [
        TOTPDevice.objects.filter(user=user),
        StaticDevice.objects.filter(user=user),
    ]
    removed = sum(d.count() for d in devices)
    for d in devices:
        d.delete()  # a recovery-code device takes its codes with it
    audit_record(
        event_type="accounts.2fa_reset",
        actor_label=actor_label,
        target=user,
        metadata={"devices_removed": removed},
    )
    return removed
