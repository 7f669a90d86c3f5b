import csv
import datetime as dt
import hashlib
import io

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from analyticsapp.api_tokens import api_token_create, token_digest
from analyticsapp.exports import EXPORTS, Filters
from analyticsapp.formulas import neutralise
from analyticsapp.kpis import default_as_of
from analyticsapp.models import ApiToken, DailySnapshot, WishlistDailySnapshot
from audit.models import AuditLog
from catalog.tests.factories import ProductFactory, VariantFactory
from orders.tests.factories import place_order
from subscriptions.models import Subscription

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/api/kpis/", "/api/daily/", "/api/exports/", "/api/exports/orders/"]


def _token(user) -> str:
    """A live token for any user (the service refuses non-API roles: this is how a
    token of a user whose role was later removed looks)."""
    plain = f"plain-{user.pk}-{timezone.now().timestamp()}"
    ApiToken.objects.create(
        user=user, name="t", prefix=plain[:8], token_sha256=token_digest(plain)
    )
    return plain


def _get(client, url, token=None, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(url, params, headers=headers)


def _snapshot(day, **values):
    return DailySnapshot.objects.create(day=day, built_at=timezone.now(), **values)


def test_the_schema_is_valid_openapi_naming_every_endpoint(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) >= {
        "/api/kpis/",
        "/api/daily/",
        "/api/exports/",
        "/api/exports/{name}/",
    }
    assert schema["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(schema)


@pytest.mark.parametrize("url", ENDPOINTS)
def test_every_endpoint_answers_analysts_and_admins(client, make_user, url):
    for role in (Role.ANALYST, Role.ADMIN):
        _, plain = api_token_create(user=make_user(role), name="script")
        response = _get(client, url, plain)
        assert response.status_code == 200, (role, response.content)


@pytest.mark.parametrize("url", ENDPOINTS)
@pytest.mark.parametrize("role", [Role.OPS, Role.CUSTOMER])
def test_every_endpoint_refuses_other_roles_403(client, make_user, url, role):
    response = _get(client, url, _token(make_user(role)))
    assert response.status_code == 403
    assert "not an active analyst or admin" in response.json()["detail"]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_every_endpoint_without_a_valid_token_is_401(client, analyst, url):
    client.force_login(analyst)  # the session is no credential here
    response = _get(client, url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert "Authorization: Bearer" in response.json()["detail"]
    assert _get(client, url, "not-a-token").status_code == 401
    plain = _token(analyst)
    basic = client.get(url, headers={"Authorization": f"Basic {plain}"})
    assert basic.status_code == 401


def test_a_removed_role_or_inactive_user_stops_the_token_at_once(client, make_user):
    user = make_user(Role.ANALYST)
    _, plain = api_token_create(user=user, name="script")
    assert _get(client, "/api/exports/", plain).status_code == 200
    user.groups.clear()
    assert _get(client, "/api/exports/", plain).status_code == 403
    user.groups.add(*make_user(Role.ANALYST).groups.all())
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert _get(client, "/api/exports/", plain).status_code == 403


def test_the_service_refuses_tokens_for_other_roles(make_user):
    with pytest.raises(PermissionError):
        api_token_create(user=make_user(Role.OPS), name="x")


def test_a_token_is_made_shown_once_stored_hashed_and_audited(client, analyst):
    client.force_login(analyst)
    page = reverse("analyticsapp:api_tokens")
    assert client.get(page).status_code == 200
    response = client.post(page, {"name": "Power BI"})
    assert response.status_code == 200
    token = ApiToken.objects.get(user=analyst)
    plain = response.context["plain_token"]
    assert plain.startswith(token.prefix) and plain in response.content.decode()
    assert token.token_sha256 == hashlib.sha256(plain.encode()).hexdigest()
    assert plain not in str(ApiToken.objects.values().get())
    assert response["Cache-Control"] == "no-store"
    listing = client.get(page).content.decode()
    assert "Power BI" in listing and plain not in listing
    audit = AuditLog.objects.get(event_type="analytics.api_token_created")
    assert audit.actor == analyst and audit.metadata["prefix"] == token.prefix
    assert _get(client, "/api/exports/", plain).status_code == 200
    assert ApiToken.objects.get().last_used_at is not None


def test_a_blank_name_is_refused(client, analyst):
    client.force_login(analyst)
    response = client.post(reverse("analyticsapp:api_tokens"), {"name": " "})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_a_revoked_token_stops_at_once_and_the_revoke_is_audited(client, analyst):
    token, plain = api_token_create(user=analyst, name="script")
    assert _get(client, "/api/kpis/", plain).status_code == 200
    client.force_login(analyst)
    revoke = reverse("analyticsapp:api_token_revoke", args=[token.pk])
    assert client.post(revoke).status_code == 302
    response = _get(client, "/api/kpis/", plain)
    assert response.status_code == 401
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditLog.objects.filter(
        event_type="analytics.api_token_revoked", target_id=str(token.pk)
    ).exists()
    assert "revoked" in client.get(reverse("analyticsapp:api_tokens")).content.decode()


def test_nobody_revokes_another_users_token(client, make_user):
    token, plain = api_token_create(user=make_user(Role.ANALYST), name="theirs")
    client.force_login(make_user(Role.ANALYST))
    revoke = reverse("analyticsapp:api_token_revoke", args=[token.pk])
    assert client.post(revoke).status_code == 404
    assert _get(client, "/api/kpis/", plain).status_code == 200


def test_the_token_pages_are_for_analysts_and_admins(client, make_user):
    page = reverse("analyticsapp:api_tokens")
    for role, status in [(Role.CUSTOMER, 403), (Role.OPS, 403), (Role.ADMIN, 200)]:
        client.force_login(make_user(role))
        assert client.get(page).status_code == status, role


def test_kpis_cover_the_range_and_its_comparison(client, analyst):
    end = default_as_of()
    _snapshot(end, gross_revenue_pennies=1500, paid_orders=1)
    _snapshot(end - dt.timedelta(days=7), gross_revenue_pennies=1000, paid_orders=1)
    _, plain = api_token_create(user=analyst, name="script")
    response = _get(
        client,
        "/api/kpis/",
        plain,
        **{"from": (end - dt.timedelta(days=6)).isoformat(), "to": end.isoformat()},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["range"] == {
        "from": (end - dt.timedelta(days=6)).isoformat(),
        "to": end.isoformat(),
        "days": 7,
    }
    assert body["comparison"]["to"] == (end - dt.timedelta(days=7)).isoformat()
    gross = body["kpis"]["gross_revenue_pennies"]
    assert gross == {
        "value": 1500,
        "previous": 1000,
        "change": 500,
        "change_ratio": "0.5000",
    }
    none = _get(client, "/api/kpis/", plain, compare="none").json()
    assert none["comparison"] is None
    assert none["kpis"]["gross_revenue_pennies"]["change"] is None


def test_the_daily_series_has_every_day_of_the_range(client, analyst):
    end = default_as_of()
    _snapshot(end, gross_revenue_pennies=700, net_revenue_pennies=650)
    _, plain = api_token_create(user=analyst, name="script")
    start = end - dt.timedelta(days=2)
    body = _get(
        client, "/api/daily/", plain, **{"from": start.isoformat(), "to": end}
    ).json()
    assert [r["day"] for r in body["rows"]] == [
        (start + dt.timedelta(days=i)).isoformat() for i in range(3)
    ]
    assert body["rows"][-1]["gross_revenue_pennies"] == 700
    assert body["rows"][-1]["built"] is True
    assert body["rows"][0]["built"] is False and body["rows"][0]["units_sold"] == 0


@pytest.mark.parametrize(
    ("url", "params", "message"),
    [
        ("/api/kpis/", {"from": "2026-02-30"}, "Enter a valid date."),
        ("/api/kpis/", {"from": "1999-12-31"}, "Pick a day from 1 Jan 2000"),
        ("/api/kpis/", {"from": "2024-03-01", "to": "2024-02-01"}, "ends before"),
        ("/api/kpis/", {"from": "2020-01-01", "to": "2023-01-01"}, "at most 731"),
        ("/api/kpis/", {"compare": "forever"}, "Select a valid choice"),
        ("/api/daily/", {"to": "2100-01-01"}, "that is over"),
        ("/api/exports/orders/", {"date_from": "yesterday"}, "Enter a valid date."),
        ("/api/exports/orders/", {"cursor": "!!not-base64"}, "cursor cannot be read"),
        ("/api/exports/orders/", {"cursor": "WzEsMl0"}, "cursor cannot be read"),
        ("/api/exports/orders/", {"cursor": "WyJ4Il0"}, "cursor cannot be read"),
        ("/api/exports/kpi_summary/", {"cursor": "WzFd"}, "cursor cannot be read"),
        ("/api/exports/orders/", {"limit": "5000"}, "limit"),
        ("/api/exports/orders/", {"limit": "ten"}, "limit"),
    ],
)
def test_unreadable_input_is_a_400_with_a_message(
    client, analyst, url, params, message
):
    _, plain = api_token_create(user=analyst, name="script")
    response = _get(client, url, plain, **params)
    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]


def test_an_unknown_export_is_404(client, analyst):
    _, plain = api_token_create(user=analyst, name="script")
    response = _get(client, "/api/exports/nope/", plain)
    assert response.status_code == 404
    assert "No export named 'nope'" in response.json()["detail"]


def _all_pages(client, plain, name, limit, **params):
    rows, cursor, pages = [], None, 0
    while True:
        query = {"limit": limit, **params} | ({"cursor": cursor} if cursor else {})
        response = _get(client, f"/api/exports/{name}/", plain, **query)
        assert response.status_code == 200, response.content
        body = response.json()
        assert len(body["rows"]) <= limit
        rows += body["rows"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return rows, pages


def test_keyset_pages_give_every_row_once_in_order(client, analyst):
    products = [ProductFactory() for _ in range(3)]
    day = default_as_of() - dt.timedelta(days=40)
    for i in range(20):  # ties on the day: the key goes on to the product
        for product in products:
            WishlistDailySnapshot.objects.create(
                day=day + dt.timedelta(days=i), product=product, adds=i, converted=0
            )
    _, plain = api_token_create(user=analyst, name="script")
    rows, pages = _all_pages(client, plain, "wishlist_conversion", limit=7)
    expected = [
        [c.isoformat() if isinstance(c, dt.date) else c for c in row]
        for row in EXPORTS["wishlist_conversion"].rows(Filters())
    ]
    assert len(expected) == 60 and pages == 9
    assert rows == expected


def test_keyset_pages_handle_nulls_and_equal_times(client, analyst, customer):
    plan = VariantFactory(product=ProductFactory(billing_interval="month"))
    same = timezone.now() - dt.timedelta(days=3)
    for i in range(9):
        Subscription.objects.create(
            stripe_subscription_id=f"sub_{i}",
            customer=customer,
            variant=plan,
            status="active",
            started_at=None if i % 3 == 0 else same,
            stripe_seen_at=same,
            stripe_seen_event=f"evt_{i}",
        )
    _, plain = api_token_create(user=analyst, name="script")
    rows, _ = _all_pages(client, plain, "subscriptions", limit=2)
    ids = [r[0] for r in rows]
    assert sorted(ids) == [f"sub_{i}" for i in range(9)]
    assert ids == [r[0] for r in EXPORTS["subscriptions"].rows(Filters())]


def _csv_rows(client, name, **params):
    response = client.get(reverse("analyticsapp:export_download", args=[name]), params)
    assert response.status_code == 200
    data = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(data)))


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_export_rows_are_the_csv_rows(client, analyst, customer, name):
    variant = VariantFactory(stock=5, product=ProductFactory(name="=HYPERLINK(1)"))
    for _ in range(3):
        place_order(customer=customer, variants={variant: 1})
    _snapshot(default_as_of(), gross_revenue_pennies=1234, paid_orders=2)
    _, plain = api_token_create(user=analyst, name="script")
    client.force_login(analyst)
    params = {"date_to": default_as_of().isoformat()}
    rows, _ = _all_pages(client, plain, name, limit=2, **params)
    header, *csv_rows = _csv_rows(client, name, **params)
    body = _get(client, f"/api/exports/{name}/", plain, **params).json()
    assert body["columns"] == header
    # The CSV's cell is the API's value as text, neutralised for spreadsheets.
    assert [[neutralise(c) for c in row] for row in rows] == csv_rows


def test_an_export_read_is_audited_like_a_download(client, analyst, customer):
    for _ in range(3):
        place_order(customer=customer, variants={VariantFactory(stock=3): 1})
    _, plain = api_token_create(user=analyst, name="script")
    first = _get(client, "/api/exports/orders/", plain, limit=2).json()
    _get(client, "/api/exports/orders/", plain, limit=2, cursor=first["next_cursor"])
    audits = AuditLog.objects.filter(event_type="analytics.export").order_by("pk")
    assert [a.metadata["rows"] for a in audits] == [2, 1]
    assert [a.metadata["complete"] for a in audits] == [False, True]
    assert all(a.metadata["format"] == "json" for a in audits)
    assert all(a.actor == analyst and a.target_id == "orders" for a in audits)
    assert len(audits[0].metadata["sha256"]) == 64


@override_settings(API_REQUESTS_PER_MINUTE=3)
def test_the_rate_limit_answers_429_per_token(client, analyst):
    _, plain = api_token_create(user=analyst, name="script")
    _, other = api_token_create(user=analyst, name="other")
    for _ in range(3):
        assert _get(client, "/api/exports/", plain).status_code == 200
    response = _get(client, "/api/exports/", plain)
    assert response.status_code == 429
    assert "at most 3 a minute" in response.json()["detail"]
    assert 1 <= int(response["Retry-After"]) <= 60
    assert _get(client, "/api/exports/", other).status_code == 200
