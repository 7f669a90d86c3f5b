"""Writes for users and roles."""

from django.contrib.auth.models import Group
from django.db import transaction

from accounts.models import User
from accounts.roles import Role
from audit.services import audit_record


@transaction.atomic
def user_create(
    *, email: str, password: str | None, full_name: str = "", roles: list[str]
) -> User:
    """Create a user with exactly these roles. Writes the user and an audit row."""
    _check_roles(roles)
    user = User.objects.create_user(email=email, password=password, full_name=full_name)
    audit_record(
        event_type="accounts.user_created",
        target=user,
        metadata={"roles": sorted(roles)},
    )
    user.groups.set(role_groups(roles))
    return user


@transaction.atomic
def customer_signup(
    *, email: str, password: str, full_name: str = "", verify: bool = False
) -> User:
    """Self-service sign-up: a new user with the customer role, audited. With
    `verify`, the address waits for confirmation before the first checkout
    (accounts/verification.py)."""
    user = user_create(
        email=email, password=password, full_name=full_name, roles=[Role.CUSTOMER]
    )
    if verify:
        user.email_verification_pending = True
        user.save(update_fields=["email_verification_pending"])
    audit_record(event_type="accounts.signup", actor=user, target=user)
    return user


@transaction.atomic
def user_set_roles(*, user: User, roles: list[str]) -> User:
    """Make the user's roles exactly `roles`; accounts.signals audits the change."""
    _check_roles(roles)
    user.groups.set(role_groups(roles))  # accounts.signals drops the cached roles
    return user


def role_groups(roles) -> list[Group]:
    """The Groups of these roles. A data migration creates them; a database that
    was flushed (transactional tests) gets them back here."""
    _check_roles(roles)
    return [Group.objects.get_or_create(name=role)[0] for role in sorted(roles)]


def _check_roles(roles):
    unknown = set(roles) - set(Role.values)
    if unknown:
        raise ValueError(f"unknown roles: {', '.join(sorted(unknown))}")
