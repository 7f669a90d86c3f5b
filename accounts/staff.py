"""Staff management for admins outside the Django admin (issue 18): invite a
colleague by email with a role (the invitation's link sets their password), change
a role, deactivate and reactivate. Every act is audited with its admin.

An invitation is an account with the role and no usable password, and a message
(`staff_invite`) whose link lasts STAFF_INVITE_DAYS and works once: it is Django's
token scheme keyed on the password, so setting one spends the link. An admin can
neither take the admin role from themselves nor deactivate themselves (the shop
must keep someone who can manage it).
"""

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import User
from accounts.roles import STAFF_ROLES, Role
from accounts.services import user_create, user_set_roles
from accounts.tokens import LifetimeTokens
from audit.services import audit_record
from core.exceptions import DomainError
from core.mail import message_send


class InviteTokens(LifetimeTokens):
    """Set-password links of invitations."""

    key_salt = "accounts.staff.InviteTokens"

    def lifetime_seconds(self) -> int:
        return settings.STAFF_INVITE_DAYS * 24 * 3600


invite_tokens = InviteTokens()


def staff_list():
    """Every user with a staff role, with their groups in one query."""
    return (
        User.objects.filter(groups__name__in=sorted(STAFF_ROLES))
        .distinct()
        .prefetch_related("groups")
        .order_by("email")
    )


def invite_link(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse("accounts:invite_accept", args=[uid, invite_tokens.make_token(user)])
    return f"{settings.SITE_URL}{path}"


@transaction.atomic
def staff_invite(*, email: str, full_name: str, role: str, actor: User) -> User:
    """A new staff account with `role` and no password, and its invitation."""
    if role not in STAFF_ROLES:
        raise DomainError("Choose a staff role: admin, ops staff or analyst.")
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise DomainError(f"{email} already has an account: change its role instead.")
    user = user_create(email=email, password=None, full_name=full_name, roles=[role])
    audit_record(
        event_type="accounts.staff_invited",
        actor=actor,
        target=user,
        metadata={"role": role},
    )
    message_send(
        kind="staff_invite",
        to=user.email,
        context={
            "user": user,
            "role": Role(role).label,
            "inviter": actor.full_name or actor.email,
            "link": invite_link(user),
            "days": settings.STAFF_INVITE_DAYS,
        },
        target=user,
        dedupe_key="invite",
    )
    return user


def staff_set_role(*, user: User, role: str, actor: User) -> User:
    """Make a staff member's role exactly `role` (the signals audit the change)."""
    if role not in STAFF_ROLES:
        raise DomainError("Choose a staff role: admin, ops staff or analyst.")
    if user.pk == actor.pk and role != Role.ADMIN:
        raise DomainError("You cannot take the admin role from yourself.")
    return user_set_roles(user=user, roles=[role])


@transaction.atomic
def staff_set_active(*, user: User, active: bool, actor: User) -> User:
    """Deactivate (sign-in refused, sessions end) or reactivate an account."""
    if user.pk == actor.pk and not active:
        raise DomainError("You cannot deactivate yourself.")
    if user.is_active != active:
        user.is_active = active
        user.save(update_fields=["is_active"])
        audit_record(
            event_type="accounts.activated" if active else "accounts.deactivated",
            actor=actor,
            target=user,
        )
    return user
