"""Audit of sign-ins and role changes, however they happen (views, admin, shell).

Signals are used here because the acts are Django's own (auth views, the admin's
group widget), not ours to wrap in a service.
"""

import datetime as dt
import hashlib

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.auth.signals import (
    user_logged_in,
    user_logged_out,
    user_login_failed,
)
from django.db.models.signals import m2m_changed
from django.dispatch import receiver
from django.utils import timezone

from accounts.models import User
from accounts.roles import STAFF_ROLES
from accounts.throttle import signin_failed, staff_failed, staff_succeeded
from audit.models import AuditLog
from audit.services import audit_record


@receiver(user_logged_in)
def _audit_login(sender, request, user, **kwargs):
    audit_record(event_type="auth.login", actor=user, target=user, request=request)
    staff_succeeded(user.email)


@receiver(user_logged_in)
def _staff_sessions_end_sooner(sender, request, user, **kwargs):
    """A staff session lasts STAFF_SESSION_SECONDS (customers keep the default)."""
    if request is not None and hasattr(request, "session") and user.roles & STAFF_ROLES:
        request.session.set_expiry(settings.STAFF_SESSION_SECONDS)


@receiver(user_logged_out)
def _audit_logout(sender, request, user, **kwargs):
    if user is not None:
        audit_record(event_type="auth.logout", actor=user, target=user, request=request)


def _attempted(credentials: dict) -> tuple[str, User | None]:
    typed = str(credentials.get("username") or credentials.get("email") or "")
    user = User.objects.filter(email__iexact=typed).first() if typed else None
    return typed, user


def _who_was_tried(typed: str, user: User | None) -> dict:
    """Who a failed sign-in named, without keeping what an attacker typed: the
    account's id when one has that email, else a digest of the typed name (to
    tell repeats apart) and its length."""
    if user is not None:
        return {"target_type": "accounts.user", "target_id": user.pk, "metadata": {}}
    digest = hashlib.sha256(typed.strip().lower().encode()).hexdigest()[:16]
    return {
        "target_type": "accounts.user",
        "metadata": {"unknown_account_sha256": digest, "typed_length": len(typed)},
    }


@receiver(user_login_failed)
def _audit_login_failed(sender, credentials, request=None, **kwargs):
    """One row per failed sign-in, but none while the account and address are
    locked out (django-axes counts those; the lockout has its own row)."""
    if request is not None and getattr(request, "axes_locked_out", False):
        return
    signin_failed(request)
    typed, user = _attempted(credentials)
    staff_failed(typed)
    audit_record(
        event_type="auth.login_failed",
        actor_label="anonymous",
        request=request,
        **_who_was_tried(typed, user),
    )


@receiver(user_locked_out)
def _audit_locked_out(sender, request=None, username=None, ip_address=None, **kw):
    """One row per lockout of an account name, however many attempts follow
    during its cool-off."""
    typed, user = _attempted({"username": username})
    who = _who_was_tried(typed, user)
    since = timezone.now() - dt.timedelta(hours=settings.AXES_COOLOFF_TIME)
    earlier = AuditLog.objects.filter(
        event_type="auth.locked_out",
        created_at__gte=since,
        target_id=str(who.get("target_id", "")),
        metadata=who["metadata"],
    )
    if earlier.exists():
        return
    audit_record(
        event_type="auth.locked_out", actor_label="anonymous", request=request, **who
    )


def _record_role_change(user, added, removed):
    if not added and not removed:
        return
    user.__dict__.pop("roles", None)
    audit_record(
        event_type="accounts.role_changed",
        target=user,
        metadata={"added": sorted(added), "removed": sorted(removed)},
    )


@receiver(m2m_changed, sender=User.groups.through)
def _audit_role_change(sender, instance, action, reverse, pk_set, **kwargs):
    if action == "pre_clear":
        if reverse:
            instance._cleared_users = list(instance.user_set.all())
        else:
            instance._cleared_roles = set(
                instance.groups.values_list("name", flat=True)
            )
        return
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    if action == "post_clear":
        if reverse:
            for user in instance._cleared_users:
                _record_role_change(user, set(), {instance.name})
        else:
            _record_role_change(instance, set(), instance._cleared_roles)
        return
    if reverse:  # group.user_set.add(...): one group, several users
        for user in User.objects.filter(pk__in=pk_set):
            names = {instance.name}
            _record_role_change(
                user,
                names if action == "post_add" else set(),
                names if action == "post_remove" else set(),
            )
        return
    names = set(Group.objects.filter(pk__in=pk_set).values_list("name", flat=True))
    if action == "post_add":
        _record_role_change(instance, names, set())
    else:
        _record_role_change(instance, set(), names)
