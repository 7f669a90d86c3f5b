"""The access policy: every named URL and who may use it. One table, one rule per URL.

`accounts.middleware.AccessPolicyMiddleware` enforces it on every request (a URL
missing here is refused), `manage.py rbac_matrix` writes docs/rbac_matrix.md from
it, and tests walk the URLconf against it. `ns:*` covers a whole namespace.
"""

from accounts.access import PUBLIC, SIGNED_IN, roles
from accounts.roles import Role

ADMIN = roles(Role.ADMIN)
# A signed-in shopper; the admin role may do everything the others may.
CUSTOMER = roles(Role.CUSTOMER, Role.ADMIN)
OPS = roles(Role.OPS, Role.ADMIN)
ANALYST = roles(Role.ANALYST, Role.ADMIN)
# Exports and the ops dashboard: analysts, ops staff and admins.
DATA = roles(Role.ANALYST, Role.OPS, Role.ADMIN)

POLICY = {
    # Storefront
    "catalog:home": PUBLIC,
    "catalog:product_list": PUBLIC,
    "catalog:product_detail": PUBLIC,
    "orders:cart": PUBLIC,
    "orders:cart_add": PUBLIC,
    "orders:cart_update": PUBLIC,
    "orders:checkout": CUSTOMER,
    "orders:order_list": CUSTOMER,
    "orders:order_detail": CUSTOMER,
    "orders:order_cancel": CUSTOMER,
    "wishlist:list": CUSTOMER,
    "wishlist:add": CUSTOMER,
    "wishlist:remove": CUSTOMER,
    "wishlist:move_to_cart": CUSTOMER,
    "subscriptions:list": CUSTOMER,
    "subscriptions:subscribe": CUSTOMER,
    "subscriptions:cancel": CUSTOMER,
    # Ops console
    "ops:queue": OPS,
    "ops:order_detail": OPS,
    "ops:order_fulfil": OPS,
    "ops:order_cancel": OPS,
    "ops:bulk_fulfil": OPS,
    "ops:order_note": OPS,
    "ops:packing_slips": OPS,
    "ops:stock": OPS,
    "ops:stock_adjust": OPS,
    "ops:stock_movements": OPS,
    "ops:stock_threshold": OPS,
    "customers_ops:customer": OPS,
    # Revenue intelligence
    "analyticsapp:dashboard": ANALYST,
    "analyticsapp:customers": ANALYST,
    "analyticsapp:products": ANALYST,
    "analyticsapp:subscriptions": ANALYST,
    "analyticsapp:reconciliation": ANALYST,
    "analyticsapp:reconciliation_payout": ANALYST,
    "analyticsapp:reconciliation_order": ANALYST,
    "analyticsapp:ops": DATA,
    "analyticsapp:definitions": DATA,
    "analyticsapp:exports": DATA,
    "analyticsapp:export_download": DATA,
    "analyticsapp:export_bi_pack": DATA,
    "analyticsapp:api_tokens": ANALYST,
    "analyticsapp:api_token_revoke": ANALYST,
    # The JSON API: a bearer token is the credential, checked with its user's role
    # (analyst, admin) on every request by the API itself (analyticsapp/api.py).
    "api:*": PUBLIC,
    # Payments: Stripe signs its deliveries (the signature is the credential)
    "payments:webhook": PUBLIC,
    "payments:pay": CUSTOMER,
    "payments:offline_checkout": CUSTOMER,
    "payments:offline_subscription_checkout": CUSTOMER,
    "payments_ops:exceptions": OPS,
    "payments_ops:exception_resolve": OPS,
    "payments_ops:events": OPS,
    "payments_ops:reprocess": OPS,
    "payments_ops:refund": OPS,
    # Accounts
    "accounts:login": PUBLIC,
    "accounts:logout": PUBLIC,
    "accounts:signup": PUBLIC,
    "accounts:account": SIGNED_IN,
    "accounts:verify": PUBLIC,
    "accounts:verify_resend": SIGNED_IN,
    "accounts:password_reset": PUBLIC,
    "accounts:password_reset_done": PUBLIC,
    "accounts:password_reset_confirm": PUBLIC,
    "accounts:password_reset_complete": PUBLIC,
    "accounts:password_change": SIGNED_IN,
    "accounts:two_factor_setup": SIGNED_IN,
    "accounts:two_factor_verify": SIGNED_IN,
    "accounts:address_delete": SIGNED_IN,
    "accounts:staff": ADMIN,
    "accounts:staff_role": ADMIN,
    "accounts:staff_active": ADMIN,
    "accounts:invite_accept": PUBLIC,
    # Operations
    "monitoring:healthz": PUBLIC,
    # Monitoring: ops read and acknowledge; admins resolve and waive (in the view)
    "monitoring:issues": OPS,
    "monitoring:checks_run": ADMIN,
    "monitoring:issue_detail": OPS,
    "monitoring:issue_status": OPS,
    "monitoring:audit": ADMIN,
    "monitoring:audit_export": ADMIN,
    "core:outbox": ADMIN,  # what the emails said; only where mail is not sent
    "admin:*": ADMIN,
}
