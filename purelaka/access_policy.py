"""The access policy: every named URL and who may use it. One table, one rule per URL.

`accounts.middleware.AccessPolicyMiddleware` enforces it on every request (a URL
missing here is refused), `manage.py rbac_matrix` writes docs/rbac_matrix.md from
it, and tests walk the URLconf against it. `ns:*` covers a whole namespace.
"""

from accounts.access import PUBLIC, SIGNED_IN, roles
from accounts.roles import Role

ADMIN = roles(Role.ADMIN)

POLICY = {
    "core:home": PUBLIC,
    "accounts:login": PUBLIC,
    "accounts:logout": PUBLIC,
    "accounts:signup": PUBLIC,
    "accounts:account": SIGNED_IN,
    "monitoring:healthz": PUBLIC,
    "admin:*": ADMIN,
}
