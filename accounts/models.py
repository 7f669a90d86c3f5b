from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property

from accounts.roles import ROLE_PRECEDENCE, Role
from core.models import TimeStampedModel


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username):
        return self.get(**{f"{self.model.USERNAME_FIELD}__iexact": username})


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an email address; roles are Groups."""

    email = models.EmailField("email address", unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(
        default=False, help_text="May sign in to the Django admin site."
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    email_verification_pending = models.BooleanField(
        default=False,
        db_default=False,  # rows written by COPY (bench/) need not name it
        help_text="Signed up on the site and has not yet confirmed the address: "
        "may browse and sign in, not check out (accounts/verification.py).",
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        ordering = ["email"]

    def __str__(self):
        return self.email

    @cached_property
    def roles(self) -> frozenset[str]:
        """The user's role names; a superuser has the admin role whatever its groups."""
        # .all(): a list of users that prefetched their groups asks nothing more.
        names = {group.name for group in self.groups.all()}
        if self.is_superuser:
            names.add(Role.ADMIN)
        return frozenset(n for n in names if n in Role.values)

    @property
    def primary_role(self) -> str:
        for role in ROLE_PRECEDENCE:
            if role in self.roles:
                return role.value
        return ""

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def get_short_name(self):
        return self.full_name.split(" ")[0] if self.full_name else self.email


class SavedAddress(TimeStampedModel):
    """A delivery address a customer checked out with, offered at their next
    checkout. The fields are an order's shipping fields, under the same limits."""

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="saved_addresses"
    )
    name = models.CharField("full name", max_length=150)
    line1 = models.CharField("address line 1", max_length=200)
    line2 = models.CharField("address line 2", max_length=200, blank=True)
    city = models.CharField("town or city", max_length=100)
    postcode = models.CharField(max_length=20)
    country = models.CharField(max_length=2, default="GB")
    last_used_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_used_at", "-id"]
        verbose_name_plural = "saved addresses"
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "user",
                    "name",
                    "line1",
                    "line2",
                    "city",
                    "postcode",
                    "country",
                ],
                name="saved_address_once_per_user",
            )
        ]

    def __str__(self):
        return self.one_line

    @property
    def one_line(self) -> str:
        parts = [self.name, self.line1, self.line2, self.city, self.postcode]
        return ", ".join(part for part in parts if part)
