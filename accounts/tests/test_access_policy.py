"""The access policy: every URL has one rule, and every role gets what its rule says."""

import pytest
from django.http import HttpResponse
from django.test import override_settings
from django.urls import include, path, resolve, reverse

from accounts.access import PUBLIC, SIGNED_IN, Decision, decide, policy, roles, rule_for
from accounts.roles import Role
from accounts.urlwalk import iter_routed_views

WHO = ["anonymous", Role.CUSTOMER, Role.OPS, Role.ANALYST, Role.ADMIN]

# URLs that answer an allowed GET with something other than 200.
POST_ONLY = {
    "accounts:logout",
    "orders:cart_add",
    "orders:cart_update",
    "orders:order_cancel",
    "wishlist:add",
    "wishlist:remove",
    "wishlist:move_to_cart",
    "ops:order_fulfil",
    "ops:order_cancel",
    "ops:order_note",
    "ops:bulk_fulfil",
    "ops:stock_adjust",
    "ops:stock_threshold",
    "accounts:verify_resend",
    "accounts:address_delete",
    "accounts:staff_role",
    "accounts:staff_active",
    "payments:pay",
    "subscriptions:subscribe",
    "subscriptions:cancel",
    "payments_ops:exception_resolve",
    "payments_ops:reprocess",
    "payments_ops:refund",
    "payments:webhook",
    "monitoring:issue_status",
    "monitoring:checks_run",
    "analyticsapp:api_token_revoke",
}
ALLOWED_GET_STATUS = dict.fromkeys(POST_ONLY, 405) | {
    "orders:checkout": 302,  # an empty cart is sent back to the cart page
    "ops:packing_slips": 400,  # no order chosen: a message, not an empty page
    "accounts:verify": 400,  # the walk's link is not a real one
    "accounts:two_factor_verify": 302,  # no device yet: sent to set one up
    "api:kpis": 401,  # the API's credential is a bearer token, never the session
}
# Concrete pages checked for a namespace-wide rule.
NAMESPACE_SAMPLES = {
    "admin:*": [
        "admin:index",
        "admin:accounts_user_changelist",
        "admin:audit_auditlog_changelist",
    ],
    "api:*": ["api:openapi-json", "api:kpis"],
}


def views_without_rule():
    return sorted(
        routed.view_name
        for routed in iter_routed_views()
        if rule_for(routed.view_name) is None
    )


def test_every_routed_url_has_an_access_rule():
    assert views_without_rule() == []


def _rogue_view(request):
    return HttpResponse("should never be served")


# This module doubles as a URLconf: the real one plus a URL nobody gave a rule.
urlpatterns = [
    path("", include("purelaka.urls")),
    path("rogue/", _rogue_view, name="rogue"),
]


@override_settings(ROOT_URLCONF=__name__)
def test_a_url_added_without_a_rule_is_reported_and_refused(client, admin_user):
    """The walker names the new URL, and the middleware refuses it (fail closed)."""
    assert views_without_rule() == ["rogue"]
    client.force_login(admin_user)
    response = client.get("/rogue/")
    assert response.status_code == 403
    assert b"should never be served" not in response.content


def test_every_policy_entry_names_a_routed_url():
    routed = [r.view_name for r in iter_routed_views()]
    for entry in policy():
        if entry.endswith(":*"):
            prefix = entry[:-1]
            assert any(name.startswith(prefix) for name in routed), entry
        else:
            assert entry in routed, f"policy entry {entry} names no URL"


def _expected(rule, who):
    decision = decide(rule, None) if who == "anonymous" else None
    if who == "anonymous":
        return decision
    if rule.kind == "public" or rule.kind == "signed_in" or who in rule.roles:
        return Decision.ALLOW
    return Decision.FORBID


def _checked_urls():
    for entry, rule in sorted(policy().items()):
        names = NAMESPACE_SAMPLES.get(entry, [entry])
        for name in names:
            yield name, rule


def _url_kwargs(user):
    """Objects for the URLs that take arguments; the order is the user's own."""
    from catalog.tests.factories import ProductFactory, VariantFactory
    from monitoring.models import DataQualityIssue
    from orders.tests.factories import place_order
    from payments.gateway import OfflineGateway
    from payments.models import PaymentException
    from subscriptions.models import Subscription

    variant = VariantFactory(stock=5)
    owner = user if user is not None else make_customer()
    order = place_order(customer=owner, variants={variant: 1})
    order.stripe_checkout_session_id = f"cs_test_walk{order.pk}"
    order.save(update_fields=["stripe_checkout_session_id"])
    case = PaymentException.objects.create(
        kind="dispute", stripe_ref=f"dp_walk{order.pk}", message="x", order=order
    )
    issue = DataQualityIssue.objects.create(
        check_name="walk",
        severity="low",
        fingerprint=f"walk:{order.pk}",
        message="x",
        evidence={},
        evidence_hash="x",
        first_seen=order.created_at,
        last_seen=order.created_at,
    )
    plan = VariantFactory(product=ProductFactory(billing_interval="month"))
    offline_session = OfflineGateway().create_subscription_checkout(
        customer=owner,
        variant=plan,
        success_url="/",
        cancel_url="/",
        idempotency_key=f"walk-{order.pk}",
    )
    subscription = Subscription.objects.create(
        stripe_subscription_id=f"sub_walk{order.pk}",
        customer=owner,
        variant=plan,
        status="active",
        stripe_seen_at=order.created_at,
        stripe_seen_event=f"evt_walk{order.pk}",
    )
    from payments.models import Payout

    payout = Payout.objects.create(
        stripe_payout_id=f"po_walk{order.pk}",
        amount_pennies=1000,
        currency="GBP",
        status="paid",
        status_at=order.created_at,
        stripe_created=order.created_at,
    )
    by_order = {"number": order.number}
    by_product = {"product_id": variant.product_id}
    return {
        "catalog:product_detail": {"slug": variant.product.slug},
        "orders:order_detail": by_order,
        "orders:order_cancel": by_order,
        "ops:order_detail": by_order,
        "ops:order_fulfil": by_order,
        "ops:order_cancel": by_order,
        "ops:order_note": by_order,
        "customers_ops:customer": {"pk": owner.pk},
        "accounts:verify": {"uidb64": "MQ", "token": "bad-token"},
        "accounts:address_delete": {"pk": 1},
        "accounts:staff_role": {"pk": owner.pk},
        "accounts:staff_active": {"pk": owner.pk},
        "accounts:invite_accept": {"uidb64": "MQ", "token": "bad-token"},
        "accounts:password_reset_confirm": {"uidb64": "MQ", "token": "bad-token"},
        "ops:stock_adjust": {"variant_id": variant.pk},
        "ops:stock_movements": {"variant_id": variant.pk},
        "ops:stock_threshold": {"product_id": variant.product_id},
        "wishlist:add": by_product,
        "wishlist:remove": by_product,
        "wishlist:move_to_cart": by_product,
        "payments:pay": by_order,
        "payments:offline_checkout": {"session_id": order.stripe_checkout_session_id},
        "payments:offline_subscription_checkout": {
            "token": resolve(offline_session.url).kwargs["token"]
        },
        "subscriptions:cancel": {"pk": subscription.pk},
        "payments_ops:refund": by_order,
        "payments_ops:exception_resolve": {"pk": case.pk},
        "analyticsapp:export_download": {"name": "orders"},
        "analyticsapp:reconciliation_payout": {"payout_id": payout.stripe_payout_id},
        "analyticsapp:reconciliation_order": by_order,
        "analyticsapp:api_token_revoke": {"pk": 1},
        "monitoring:issue_detail": {"pk": issue.pk},
        "monitoring:issue_status": {"pk": issue.pk, "status": "acknowledged"},
    }


def make_customer():
    from accounts.tests.factories import UserFactory

    return UserFactory(roles=[Role.CUSTOMER])


@pytest.mark.parametrize("who", WHO)
def test_each_role_gets_what_each_rule_says(client, make_user, who):
    user = None
    if who != "anonymous":
        user = make_user(who)
        client.force_login(user)
    kwargs = _url_kwargs(user)
    seen = 0
    for name, rule in _checked_urls():
        url = reverse(name, kwargs=kwargs.get(name))
        response = client.get(url)
        expected = _expected(rule, who)
        where = f"{who} GET {name} ({url})"
        if expected is Decision.ALLOW:
            assert response.status_code == ALLOWED_GET_STATUS.get(name, 200), where
            if response.status_code == 302:
                assert not response["Location"].startswith(reverse("accounts:login"))
        elif expected is Decision.LOGIN:
            assert response.status_code == 302, where
            assert response["Location"].startswith(reverse("accounts:login")), where
            assert "next=" in response["Location"], where
        else:
            assert response.status_code == 403, where
        seen += 1
    assert seen >= len(policy())


def test_superuser_counts_as_admin(client, make_user):
    root = make_user(is_superuser=True)
    client.force_login(root)
    assert client.get(reverse("admin:index")).status_code == 200
    assert root.primary_role == Role.ADMIN


def test_inactive_user_is_treated_as_anonymous(make_user):
    user = make_user(Role.ADMIN, is_active=False)
    assert decide(roles(Role.ADMIN), user) is Decision.LOGIN


def test_rule_shapes_are_validated():
    with pytest.raises(ValueError, match="unknown roles"):
        roles("superhero")
    assert PUBLIC.describe() == "public"
    assert SIGNED_IN.describe() == "any signed-in user"
    assert roles(Role.OPS, Role.ADMIN).describe() == "admin, ops"


def test_namespace_wildcard_covers_unnamed_admin_views():
    assert rule_for("admin:django.contrib.admin.sites.catch_all_view") == rule_for(
        "admin:index"
    )
    assert rule_for("nowhere:page") is None
