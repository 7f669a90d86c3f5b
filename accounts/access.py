"""Access rules: who may use a URL. The policy table itself is `settings.ACCESS_POLICY`.

A rule is public, any signed-in user, or a set of roles. `decide` is the one place a
rule meets a user; the middleware, `role_required` and `RoleRequiredMixin` all call it.
"""

from dataclasses import dataclass, field
from enum import Enum
from functools import cache, wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.utils.module_loading import import_string

from accounts.roles import Role


class Decision(Enum):
    ALLOW = "allow"
    LOGIN = "login"  # anonymous visitor: send to the login page
    FORBID = "forbid"  # signed in, wrong role: 403


@dataclass(frozen=True)
class Rule:
    kind: str  # "public", "signed_in" or "roles"
    roles: frozenset[str] = field(default_factory=frozenset)

    def describe(self) -> str:
        if self.kind == "public":
            return "public"
        if self.kind == "signed_in":
            return "any signed-in user"
        return ", ".join(r for r in Role.values if r in self.roles)


PUBLIC = Rule("public")
SIGNED_IN = Rule("signed_in")


def roles(*names: str) -> Rule:
    unknown = set(names) - set(Role.values)
    if unknown or not names:
        raise ValueError(f"unknown roles in access rule: {sorted(unknown) or names}")
    return Rule("roles", frozenset(names))


def decide(rule: Rule, user) -> Decision:
    if rule.kind == "public":
        return Decision.ALLOW
    if user is None or not user.is_authenticated or not user.is_active:
        return Decision.LOGIN
    if rule.kind == "signed_in" or user.has_role(*rule.roles):
        return Decision.ALLOW
    return Decision.FORBID


@cache
def policy() -> dict[str, Rule]:
    return import_string(settings.ACCESS_POLICY)


def rule_for(view_name: str) -> Rule | None:
    """The rule for a namespaced view name; `ns:*` covers a whole namespace."""
    table = policy()
    if view_name in table:
        return table[view_name]
    namespace = view_name.rsplit(":", 1)[0] if ":" in view_name else None
    while namespace:
        if f"{namespace}:*" in table:
            return table[f"{namespace}:*"]
        namespace = namespace.rsplit(":", 1)[0] if ":" in namespace else None
    return None


def enforce(rule: Rule, request):
    """None when the request may proceed; else the response (redirect) or raises 403."""
    decision = decide(rule, request.user)
    if decision is Decision.ALLOW:
        return None
    if decision is Decision.LOGIN:
        return redirect_to_login(request.get_full_path())
    raise PermissionDenied("Your role does not give access to this page.")


def role_required(*role_names: str):
    """Decorator for a function view: only these roles (anonymous → login, else 403)."""
    rule = roles(*role_names)

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            return enforce(rule, request) or view(request, *args, **kwargs)

        return wrapped

    return decorator


class RoleRequiredMixin:
    """Class-based view mixin: set `required_roles`; same answers as `role_required`."""

    required_roles: tuple[str, ...] = ()

    def dispatch(self, request, *args, **kwargs):
        denied = enforce(roles(*self.required_roles), request)
        return denied or super().dispatch(request, *args, **kwargs)
