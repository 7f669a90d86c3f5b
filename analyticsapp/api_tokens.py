"""API tokens: made, listed and revoked by their user, checked on every API request.

A token is `secrets.token_urlsafe(32)`; only its SHA-256 is stored, so a leaked
database gives no working token. Validity (not revoked, the user active and still
an analyst or admin) is read from the database on every request: a revoked token
or a removed role stops working at once. Requests are counted per token in the
cache, in fixed one-minute windows (as accounts/throttle.py counts sign-ins).
"""

import hashlib
import secrets
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.roles import Role
from analyticsapp.models import ApiToken
from audit.services import audit_record

API_ROLES = (Role.ANALYST, Role.ADMIN)
PREFIX_LENGTH = 8
RATE_WINDOW_SECONDS = 60
# How often last_used_at is written: not on every request of a busy script.
LAST_USED_PRECISION_SECONDS = 60


def requests_per_minute() -> int:
    return getattr(settings, "API_REQUESTS_PER_MINUTE", 120)


def may_use_api(user) -> bool:
    return bool(user and user.is_active and user.has_role(*API_ROLES))


def token_digest(plain: str) -> str:
    return hashlib.sha256(plain.encode("utf-8")).hexdigest()


def api_token_list_for_user(*, user) -> list[ApiToken]:
    return list(ApiToken.objects.filter(user=user).order_by("-created_at", "-id"))


@transaction.atomic
def api_token_create(*, user, name: str, request=None) -> tuple[ApiToken, str]:
    """A new token for `user`; returns it and the plain token (shown once, never
    stored). Writes an `analytics.api_token_created` audit row."""
    if not may_use_api(user):
        raise PermissionError("Only analysts and admins may have API tokens.")
    plain = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name.strip(),
        prefix=plain[:PREFIX_LENGTH],
        token_sha256=token_digest(plain),
    )
    audit_record(
        event_type="analytics.api_token_created",
        actor=user,
        request=request,
        target=token,
        metadata={"name": token.name, "prefix": token.prefix},
    )
    return token, plain


@transaction.atomic
def api_token_revoke(*, user, token_id: int, request=None) -> ApiToken:
    """Revokes one of `user`'s tokens (ApiToken.DoesNotExist for anyone else's);
    revoking twice keeps the first time. Writes an `analytics.api_token_revoked`
    audit row when the token was live."""
    token = ApiToken.objects.select_for_update().get(pk=token_id, user=user)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            event_type="analytics.api_token_revoked",
            actor=user,
            request=request,
            target=token,
            metadata={"name": token.name, "prefix": token.prefix},
        )
    return token


def api_token_authenticate(plain: str) -> ApiToken | None:
    """The live token with this value (its user loaded), or None. Marks it used."""
    if not plain:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_sha256=token_digest(plain), revoked_at__isnull=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if (
        token.last_used_at is None
        or (now - token.last_used_at).total_seconds() >= LAST_USED_PRECISION_SECONDS
    ):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def api_rate_allowed(token: ApiToken) -> bool:
    """Counts this request against the token's minute; False once over the limit."""
    window = int(time.time()) // RATE_WINDOW_SECONDS
    key = f"api:rate:{token.token_sha256[:16]}:{window}"
    cache.add(key, 0, RATE_WINDOW_SECONDS * 2)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, RATE_WINDOW_SECONDS * 2)
        count = 1
    return count <= requests_per_minute()
