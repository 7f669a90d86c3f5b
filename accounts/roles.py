"""The four roles. Each is a Group of the same name; a superuser counts as admin."""

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    OPS = "ops", "Ops staff"
    ANALYST = "analyst", "Analyst"
    CUSTOMER = "customer", "Customer"


# Most powerful first: a user's primary role is the first of theirs in this order.
ROLE_PRECEDENCE = [Role.ADMIN, Role.OPS, Role.ANALYST, Role.CUSTOMER]
STAFF_ROLES = frozenset({Role.ADMIN, Role.OPS, Role.ANALYST})
