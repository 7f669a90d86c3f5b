"""Sign-in limits beside django-axes' per-account lockout (issue 19): failed
sign-ins from one address across any account names (password spraying), and all
sign-in attempts against the site (a flood). Counted in the cache (Redis in
production) in fixed windows; the address is `core.request_context.client_ip`."""

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
    return ""


def signin_failed(request) -> None:
    """Count a failed sign-in against the client's address."""
    if request is not None:
        _bump(_address_key(request), WINDOW_SECONDS * 2)
