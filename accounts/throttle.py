"""Sign-in limits beside django-axes' per-account lockout (issue 19): failed
sign-ins from one address across any account names (password spraying), and all
sign-in attempts against the site (a flood). Counted in the cache (Redis in
production) in fixed windows; the address is `core.request_context.client_ip`."""

import math
import time

from django.conf import settings
from django.core.cache import cache

from core.request_context import client_ip

WINDOW_SECONDS = 15 * 60  # failures per address: a 15-minute window
FLOOD_WINDOW_SECONDS = 60  # all attempts: a one-minute window


def _window(seconds: int) -> int:
    return int(time.time()) // seconds


def _address_key(request) -> str:
    return f"signin:fail:{client_ip(request) or '-'}:{_window(WINDOW_SECONDS)}"


def _flood_key() -> str:
    return f"signin:all:{_window(FLOOD_WINDOW_SECONDS)}"


def _bump(key: str, timeout: int) -> int:
    cache.add(key, 0, timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout)
        return 1


def signin_refusal(request) -> str:
    """Why this sign-in attempt is refused before any password is checked, or ""
    (it is counted against the site-wide limit either way)."""
    if (
        _bump(_flood_key(), FLOOD_WINDOW_SECONDS * 2)
        > settings.SIGNIN_ATTEMPTS_PER_MINUTE
    ):
        return "Sign-in is busy: too many attempts on the site this minute."
    if (cache.get(_address_key(request)) or 0) >= settings.SIGNIN_FAILURES_PER_ADDRESS:
        return "Too many failed sign-ins from your address: try again in 15 minutes."
    return staff_refusal(request)


def signin_failed(request) -> None:
    """Count a failed sign-in against the client's address."""
    if request is not None:
        _bump(_address_key(request), WINDOW_SECONDS * 2)


RESET_WINDOW_SECONDS = 60 * 60  # password resets: an hour


def _reset_key(kind: str, value: str) -> str:
    return f"reset:{kind}:{value}:{_window(RESET_WINDOW_SECONDS)}"


def reset_allowed(request, email: str) -> bool:
    """Whether a password reset email may go out: at most
    PASSWORD_RESETS_PER_EMAIL an hour to one address (no inbox flooding) and
    PASSWORD_RESETS_PER_ADDRESS an hour from one client. Counted whether or not the
    address has an account, so the limit says nothing about who has one."""
    address = client_ip(request) if request is not None else ""
    by_email = _bump(
        _reset_key("email", email.strip().lower()), RESET_WINDOW_SECONDS * 2
    )
    by_address = _bump(_reset_key("ip", address or "-"), RESET_WINDOW_SECONDS * 2)
    return (
        by_email <= settings.PASSWORD_RESETS_PER_EMAIL
        and by_address <= settings.PASSWORD_RESETS_PER_ADDRESS
    )


def signup_allowed(request) -> bool:
    """At most SIGNUPS_PER_ADDRESS sign-ups an hour from one client."""
    address = client_ip(request) or "-"
    key = f"signup:ip:{address}:{_window(RESET_WINDOW_SECONDS)}"
    return _bump(key, RESET_WINDOW_SECONDS * 2) <= settings.SIGNUPS_PER_ADDRESS


# Staff accounts are never locked (an attacker could lock ops out); after
# AXES_FAILURE_LIMIT failures each further try waits twice as long as the last,
# from 1 s up to STAFF_DELAY_MAX_SECONDS, until a sign-in succeeds or the failures
# age out (an hour).
STAFF_FAILURES_SECONDS = 60 * 60


def _staff_key(username: str) -> str:
    return f"signin:staff:{username.strip().lower()}"


def is_staff_name(username: str) -> bool:
    from accounts.models import User
    from accounts.roles import STAFF_ROLES

    user = (
        User.objects.filter(email__iexact=username.strip()).first()
        if username
        else None
    )
    return bool(user and user.roles & STAFF_ROLES)


def axes_never_locks_staff(request, credentials) -> bool:
    """django-axes' whitelist: staff names get the progressive delay instead."""
    return is_staff_name(str((credentials or {}).get("username") or ""))


def staff_delay_seconds(failures: int) -> int:
    over = failures - settings.AXES_FAILURE_LIMIT
    if over < 0:
        return 0
    return min(2**over, settings.STAFF_DELAY_MAX_SECONDS)


def staff_refusal(request) -> str:
    """Why a staff name must wait before this try, or ""."""
    username = str(request.POST.get("username") or "")
    state = cache.get(_staff_key(username)) if username else None
    if not state:
        return ""
    failures, last = state
    wait = staff_delay_seconds(failures) - (time.time() - last)
    if wait > 0:
        seconds = math.ceil(wait)
        return (
            f"Too many failed sign-ins for this account: wait {seconds} "
            f"second{'s' if seconds != 1 else ''}, then try again."
        )
    return ""


def staff_failed(username: str) -> None:
    if not is_staff_name(username):
        return
    key = _staff_key(username)
    failures = (cache.get(key) or (0, 0))[0] + 1
    cache.set(key, (failures, time.time()), STAFF_FAILURES_SECONDS)


def staff_succeeded(username: str) -> None:
    cache.delete(_staff_key(username))
